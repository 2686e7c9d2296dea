using LogBroker.Cli;

namespace LogBroker.Integration.Tests.Security;

/// <summary><c>logbroker users</c> and the security options (<c>--command-config</c>) against a SASL_SSL listener.</summary>
public sealed class CliSecurityTests(SecureBroker broker) : IClassFixture<SecureBroker>
{
    private async Task<(int Code, string Out, string Err)> RunAsync(string? stdin, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await CliApp.RunAsync([.. args, "--bootstrap", $"127.0.0.1:{broker.SaslSslPort}"],
            new CliContext(output, error, new StringReader(stdin ?? ""), interactive: false), TestContext.Current.CancellationToken);
        return (code, output.ToString(), error.ToString());
    }

    private string Properties(string user, string password)
    {
        string path = Path.Combine(broker.CertificateDirectory, $"{user}-{Guid.NewGuid():N}.properties");
        File.WriteAllText(path, $"# client settings\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.username={user}\nsasl.password={password}\nssl.ca.location={broker.CaFile}\n");
        return path;
    }

    [Fact]
    public async Task Users_create_list_delete_and_the_new_user_logs_in()
    {
        string admin = Properties(SecureBroker.AdminUser, SecureBroker.AdminPassword);
        (int code, string output, string error) = await RunAsync("s3cret-carol\n", "users", "create", "carol", "--command-config", admin);
        Assert.True(code == 0, error);
        Assert.DoesNotContain("s3cret", output + error, StringComparison.Ordinal);

        (code, output, error) = await RunAsync(null, "users", "list", "--command-config", admin);
        Assert.True(code == 0, error);
        Assert.Contains("carol\tSCRAM-SHA-256\titerations=8192", output, StringComparison.Ordinal);
        Assert.Contains("carol\tSCRAM-SHA-512\titerations=8192", output, StringComparison.Ordinal);

        (code, _, error) = await RunAsync(null, "topics", "list", "--command-config", Properties("carol", "s3cret-carol"));
        Assert.True(code == 0, error);

        (code, _, error) = await RunAsync(null, "topics", "list", "--command-config", Properties("carol", "wrong"));
        Assert.NotEqual(0, code);
        Assert.Contains("Authentication failed", error, StringComparison.Ordinal);

        (code, _, error) = await RunAsync(null, "users", "delete", "carol", "--command-config", admin);
        Assert.True(code == 0, error);
        (_, output, _) = await RunAsync(null, "users", "list", "--command-config", admin);
        Assert.DoesNotContain("carol", output, StringComparison.Ordinal);

        // Options on the command line work as well as the file, and a non-admin may not manage users.
        (code, _, error) = await RunAsync("x\n", "users", "create", "mallory", "--security-protocol", "SASL_SSL", "--sasl-mechanism", "SCRAM-SHA-256",
            "--sasl-username", "carol", "--sasl-password", "s3cret-carol", "--ssl-ca-location", broker.CaFile);
        Assert.NotEqual(0, code); // carol is gone, so this fails at authentication
    }
}
