using LogBroker.Broker;
using Microsoft.Extensions.Hosting;

// The LogBroker daemon. Run from the repository root: dotnet run -c Release --project src/Broker
try
{
    await BrokerApp.CreateBuilder(args).Build().RunAsync().ConfigureAwait(false);
}
catch (OperationCanceledException)
{
    // SIGTERM (or Ctrl-C) before every hosted service had started (seen: the admin listener still
    // starting): the host stopped starting and RunAsync disposed the services, storage included, so
    // this is the requested stop, not a crash (it used to abort the process with exit code 134).
}
