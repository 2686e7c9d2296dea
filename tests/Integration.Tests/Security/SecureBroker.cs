using LogBroker.TestKit;

namespace LogBroker.Integration.Tests.Security;

/// <summary>
/// A broker process with four listeners on 127.0.0.1 (SASL_SSL, SSL with required client certificates,
/// SASL_PLAINTEXT, PLAINTEXT), certificates minted for the run, an initial admin user from the
/// configuration and <c>alice</c> created through AlterUserScramCredentials by the tests that need her.
/// </summary>
public sealed class SecureBroker : IAsyncLifetime
{
    public const string AdminUser = "admin";
    public const string AdminPassword = "admin-secret";

    private readonly TempDirectory _directory = new("secure");
    private BrokerProcess? _process;

    internal TestCertificates Certificates { get; private set; } = null!;

    public string CaFile => Certificates.CaFile;

    public int SaslSslPort { get; } = BrokerProcess.FreePort();

    public int SslPort { get; } = BrokerProcess.FreePort();

    public int SaslPlaintextPort { get; } = BrokerProcess.FreePort();

    public int PlaintextPort { get; } = BrokerProcess.FreePort();

    public string DataDirectory => _directory.Combine("data");

    public string CertificateDirectory => _directory.Combine("certs");

    public string ServerCertificate { get; private set; } = "";

    public BrokerProcess Process => _process!;

    /// <summary>Extra settings (e.g. a short session lifetime).</summary>
    public IEnumerable<string> ExtraSettings { get; init; } = [];

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(DataDirectory);
        Directory.CreateDirectory(CertificateDirectory);
        Certificates = TestCertificates.CreateCa(CertificateDirectory);
        (string certificate, string key) = Certificates.Server();
        ServerCertificate = certificate;
        string[] settings =
        [
            .. Listener(0, "SECURE", "SASL_SSL", SaslSslPort, certificate, key),
            .. Listener(1, "MTLS", "SSL", SslPort, certificate, key),
            $"--Security:Listeners:1:CaFile={Certificates.CaFile}",
            "--Security:Listeners:1:ClientAuth=required",
            "--Security:Listeners:1:PrincipalMappingRules=RULE:^CN=([^,]+),OU=ServiceUsers,.*$/$1/L,DEFAULT",
            .. Listener(2, "INTERNAL", "SASL_PLAINTEXT", SaslPlaintextPort, null, null),
            .. Listener(3, "PLAIN", "PLAINTEXT", PlaintextPort, null, null),
            $"--Security:InitialUser={AdminUser}",
            $"--Security:SuperUsers=User:{AdminUser}",
            "--Security:SaslAuthenticationTimeout=00:00:05",
            "--Security:TlsHandshakeTimeout=00:00:05",
            "--Security:CertificateReloadInterval=00:00:01",
            .. ExtraSettings,
        ];
        _process = await BrokerProcess.StartAsync(DataDirectory, PlaintextPort, settings, new Dictionary<string, string> { ["LOGBROKER__Security__InitialPassword"] = AdminPassword });
    }

    private static IEnumerable<string> Listener(int i, string name, string protocol, int port, string? certificate, string? key)
    {
        yield return $"--Security:Listeners:{i}:Name={name}";
        yield return $"--Security:Listeners:{i}:Address=127.0.0.1:{port}";
        yield return $"--Security:Listeners:{i}:SecurityProtocol={protocol}";
        if (certificate is not null)
        {
            yield return $"--Security:Listeners:{i}:CertificateFile={certificate}";
            yield return $"--Security:Listeners:{i}:KeyFile={key}";
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        _directory.Dispose();
    }
}
