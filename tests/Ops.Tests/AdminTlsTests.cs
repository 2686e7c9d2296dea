using System.Net;
using System.Security.Cryptography.X509Certificates;
using LogBroker.Integration.Tests.Security;
using LogBroker.TestKit;

namespace LogBroker.Ops.Tests;

/// <summary>
/// With a SASL_SSL Kafka listener the admin listener requires authentication by itself and serves TLS
/// with that listener's certificate: a client trusting the test CA gets 200 with the right password,
/// 401 without, and a plain-HTTP request to the port gets no HTTP answer.
/// </summary>
public sealed class AdminTlsTests(TlsAuthOpsBroker broker) : IClassFixture<TlsAuthOpsBroker>
{
    private CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_admin_listener_serves_HTTPS_with_the_Kafka_listeners_certificate_and_needs_the_password()
    {
        Assert.Equal("https", broker.AdminUri.Scheme);
        using var anonymous = new HttpRequestMessage(HttpMethod.Get, new Uri("api/broker", UriKind.Relative));
        using HttpResponseMessage refused = await broker.Http.SendAsync(anonymous, Ct);
        using var authenticated = new HttpRequestMessage(HttpMethod.Get, new Uri("api/broker", UriKind.Relative))
        {
            Headers = { Authorization = AdminAuthenticationTests.Basic("admin", TlsAuthOpsBroker.Password) },
        };
        using HttpResponseMessage ok = await broker.Http.SendAsync(authenticated, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("CN=localhost, O=LogBroker Tests", broker.SeenSubject);

        using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync(new Uri($"http://127.0.0.1:{broker.AdminUri.Port}/health/live"), Ct));
    }
}

/// <summary>A broker with one SASL_SSL listener (certificate minted by the test); the admin listener follows it.</summary>
public sealed class TlsAuthOpsBroker : OpsBroker, IAsyncDisposable
{
    public const string Password = "tls-admin-secret";

    private readonly TempDirectory _certificates = new("ops-tls");
    private readonly TestCertificates _ca;
    private readonly (string Certificate, string Key) _server;

    public TlsAuthOpsBroker()
    {
        _ca = TestCertificates.CreateCa(_certificates.Path);
        _server = _ca.Server();
    }

    /// <summary>The subject of the certificate the admin listener presented.</summary>
    public string? SeenSubject { get; private set; }

    protected override string AdminScheme => "https";

    async ValueTask IAsyncDisposable.DisposeAsync()
    {
        await DisposeAsync();
        _certificates.Dispose();
    }

    protected override IEnumerable<string> Settings =>
    [
        "--Security:Listeners:0:Name=SECURE",
        "--Security:Listeners:0:Address=127.0.0.1:0",
        "--Security:Listeners:0:SecurityProtocol=SASL_SSL",
        $"--Security:Listeners:0:CertificateFile={_server.Certificate}",
        $"--Security:Listeners:0:KeyFile={_server.Key}",
        "--Security:InitialUser=admin",
        $"--Security:InitialPassword={Password}",
    ];

    protected override HttpMessageHandler CreateHandler()
    {
        using X509Certificate2 ca = X509Certificate2.CreateFromPem(File.ReadAllText(_ca.CaFile));
        byte[] caBytes = ca.RawData;
        return new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, chain, _) =>
            {
                if (certificate is null || chain is null)
                {
                    return false;
                }

                SeenSubject = certificate.Subject;
                using X509Certificate2 root = X509CertificateLoader.LoadCertificate(caBytes);
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(root);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(certificate);
            },
        };
    }
}
