using System.Diagnostics;

namespace LogBroker.Integration.Tests.Security;

/// <summary>kcat (librdkafka's CLI) over SASL_SSL with SCRAM-SHA-512: produce, then consume the same lines back.</summary>
public sealed class KcatTests(SecureBroker broker) : IClassFixture<SecureBroker>
{
    internal static string? Kcat() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "kcat")).FirstOrDefault(File.Exists);

    [Fact]
    public async Task Kcat_produces_and_consumes_over_SASL_SSL_with_SCRAM_SHA_512()
    {
        string? kcat = Kcat();
        Assert.SkipWhen(kcat is null, "kcat is not installed (apt-get install -y kcat); CI installs it.");
        string topic = BrokerFixture.UniqueTopic("kcat");
        string[] common =
        [
            "-b", $"127.0.0.1:{broker.SaslSslPort}", "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
            "-X", $"sasl.username={SecureBroker.AdminUser}", "-X", $"sasl.password={SecureBroker.AdminPassword}", "-X", $"ssl.ca.location={broker.CaFile}",
            "-t", topic,
        ];
        string[] lines = [.. Enumerable.Range(0, 25).Select(i => $"line-{i}")];
        (int code, _, string error) = await RunAsync(kcat!, [.. common, "-P"], string.Join('\n', lines) + "\n");
        Assert.True(code == 0, error);
        (code, string output, error) = await RunAsync(kcat!, [.. common, "-C", "-o", "beginning", "-e", "-q"], null);
        Assert.True(code == 0, error);
        Assert.Equal(lines, output.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        (code, _, error) = await RunAsync(kcat!, ["-b", $"127.0.0.1:{broker.SaslSslPort}", "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
            "-X", "sasl.username=admin", "-X", "sasl.password=wrong", "-X", $"ssl.ca.location={broker.CaFile}", "-L", "-m", "5"], null);
        Assert.NotEqual(0, code);
        Assert.Contains("Authentication failed", error, StringComparison.OrdinalIgnoreCase);
    }

    internal static async Task<(int Code, string Out, string Err)> RunAsync(string file, string[] args, string? input)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output, await error);
    }
}
