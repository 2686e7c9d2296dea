using LogBroker.Cli;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

var context = new CliContext(Console.Out, Console.Error, Console.In, interactive: !Console.IsOutputRedirected && !Console.IsErrorRedirected);
return await CliApp.RunAsync(args, context, cancel.Token);
