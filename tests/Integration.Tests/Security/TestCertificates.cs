using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LogBroker.Integration.Tests.Security;

/// <summary>
/// A throw-away CA, a server certificate for 127.0.0.1/localhost and client certificates, minted in
/// the test with <see cref="CertificateRequest"/> and written as PEM files (no key is ever committed).
/// </summary>
internal sealed class TestCertificates
{
    private readonly X509Certificate2 _ca;
    private readonly string _directory;

    private TestCertificates(string directory, string name)
    {
        _directory = directory;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name},O=LogBroker Tests", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        _ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        CaFile = Path.Combine(directory, name + ".pem");
        File.WriteAllText(CaFile, _ca.ExportCertificatePem());
    }

    /// <summary>The CA certificate (PEM), to trust on both sides.</summary>
    public string CaFile { get; }

    public static TestCertificates CreateCa(string directory, string name = "test-ca") => new(directory, name);

    /// <summary>A server certificate for 127.0.0.1 and localhost; returns (certificate file, key file).</summary>
    public (string Certificate, string Key) Server(string name = "server")
    {
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        return Issue(name, $"CN=localhost,O=LogBroker Tests", san.Build(), new Oid("1.3.6.1.5.5.7.3.1"));
    }

    /// <summary>A client certificate with the subject <paramref name="subject"/> (e.g. "CN=alice,OU=eng,O=corp").</summary>
    public (string Certificate, string Key) Client(string name, string subject) => Issue(name, subject, null, new Oid("1.3.6.1.5.5.7.3.2"));

    private (string, string) Issue(string name, string subject, X509Extension? san, Oid usage)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([usage], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_ca, true, false));
        if (san is not null)
        {
            request.CertificateExtensions.Add(san);
        }

        byte[] serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7f;
        using X509Certificate2 certificate = request.Create(_ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), serial);
        string certificateFile = Path.Combine(_directory, name + ".crt.pem");
        string keyFile = Path.Combine(_directory, name + ".key.pem");
        File.WriteAllText(certificateFile, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return (certificateFile, keyFile);
    }
}
