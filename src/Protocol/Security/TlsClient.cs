using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace LogBroker.Protocol.Security;

/// <summary>
/// The client side of a TLS connection to a broker: TLS 1.2 or 1.3, the server's chain checked against
/// <paramref name="trusted"/> (else the system store), its name checked unless <paramref name="checkHostName"/> is
/// false (Kafka's <c>ssl.endpoint.identification.algorithm</c> empty), and an optional client certificate for mTLS.
/// </summary>
internal sealed class TlsClient(X509Certificate2Collection? trusted, X509Certificate2? clientCertificate, bool checkHostName)
{
    /// <summary>A TLS client from PEM files: a CA bundle (null: the system store) and a client certificate and key (null: none).</summary>
    public static TlsClient FromPem(string? caFile, string? certificateFile, string? keyFile, string? keyPassword, bool checkHostName)
    {
        X509Certificate2Collection? trusted = null;
        if (caFile is not null)
        {
            trusted = [];
            trusted.ImportFromPemFile(caFile);
        }

        X509Certificate2? certificate = null;
        if (certificateFile is not null)
        {
            string key = keyFile ?? certificateFile;
            certificate = keyPassword is null
                ? X509Certificate2.CreateFromPemFile(certificateFile, key)
                : X509Certificate2.CreateFromEncryptedPemFile(certificateFile, keyPassword, key);
        }

        return new TlsClient(trusted, certificate, checkHostName);
    }

    /// <summary>TLS over <paramref name="transport"/> (owned: disposed when the handshake fails).</summary>
    /// <exception cref="AuthenticationException">The handshake failed (an untrusted or misnamed certificate, no common protocol).</exception>
    /// <exception cref="IOException">The connection failed during the handshake.</exception>
    public async Task<SslStream> AuthenticateAsync(Stream transport, string host, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(transport, leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = host,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => ValidateServer(certificate, errors),
        };
        if (clientCertificate is not null)
        {
            options.ClientCertificates = [clientCertificate];
        }

        try
        {
            await ssl.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
            return ssl;
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private bool ValidateServer(X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null)
        {
            return false;
        }

        if (!checkHostName)
        {
            errors &= ~SslPolicyErrors.RemoteCertificateNameMismatch;
        }

        if (trusted is null)
        {
            return errors == SslPolicyErrors.None;
        }

        if ((errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }
}
