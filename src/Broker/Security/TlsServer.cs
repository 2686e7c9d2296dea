using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Security;

/// <summary>
/// The TLS side of one listener: the server certificate (PEM chain and key, reloaded when the files
/// change or on SIGHUP; a reload that fails keeps the previous certificate), the trusted client CAs, and
/// the client-certificate mode. Handshakes read the current certificate, so a reload takes effect for
/// the next connection without a restart.
/// </summary>
internal sealed partial class TlsServer
{
    private readonly ListenerOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private SslStreamCertificateContext _context;
    private X509Certificate2Collection _trusted = [];
    private (DateTime, DateTime, DateTime) _stamps;

    public TlsServer(ListenerOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        ClientAuth = options.ClientAuth.ToUpperInvariant() switch
        {
            "REQUIRED" => ClientAuthMode.Required,
            "REQUESTED" => ClientAuthMode.Requested,
            _ => ClientAuthMode.None,
        };
        (_context, _trusted, _stamps) = Load();
        Subject = _context.TargetCertificate.Subject;
    }

    public ClientAuthMode ClientAuth { get; }

    /// <summary>The subject of the certificate in use (for logs and tests).</summary>
    public string Subject { get; private set; }

    /// <summary>Reloads when any file changed since the last load (or always, when <paramref name="force"/>); keeps the old certificate on failure.</summary>
    public bool Reload(bool force)
    {
        try
        {
            if (!force && Stamps() == _stamps)
            {
                return false;
            }

            (SslStreamCertificateContext context, X509Certificate2Collection trusted, (DateTime, DateTime, DateTime) stamps) = Load();
            lock (_lock)
            {
                _context = context;
                _trusted = trusted;
                _stamps = stamps;
                Subject = context.TargetCertificate.Subject;
            }

            Log.Reloaded(_logger, _options.Name, Subject, context.TargetCertificate.NotAfter);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            Log.ReloadFailed(_logger, e, _options.Name);
            return false;
        }
    }

    /// <summary>Options for one handshake, with the current certificate.</summary>
    public SslServerAuthenticationOptions ServerOptions()
    {
        SslStreamCertificateContext context;
        X509Certificate2Collection trusted;
        lock (_lock)
        {
            context = _context;
            trusted = _trusted;
        }

        return new SslServerAuthenticationOptions
        {
            ServerCertificateContext = context,
            ClientCertificateRequired = ClientAuth != ClientAuthMode.None,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => ValidateClient(certificate, errors, trusted),
        };
    }

    private bool ValidateClient(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2Collection trusted)
    {
        if (certificate is null)
        {
            return ClientAuth != ClientAuthMode.Required;
        }

        if (trusted.Count == 0)
        {
            return (errors & ~SslPolicyErrors.RemoteCertificateNotAvailable) == SslPolicyErrors.None;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        bool ok = chain.Build(leaf);
        if (!ok)
        {
            Log.ClientCertificateRejected(_logger, _options.Name, leaf.Subject);
        }

        return ok;
    }

    private (DateTime, DateTime, DateTime) Stamps() => (
        File.GetLastWriteTimeUtc(_options.CertificateFile!),
        _options.KeyFile is null ? default : File.GetLastWriteTimeUtc(_options.KeyFile),
        _options.CaFile is null ? default : File.GetLastWriteTimeUtc(_options.CaFile));

    private (SslStreamCertificateContext, X509Certificate2Collection, (DateTime, DateTime, DateTime)) Load()
    {
        (DateTime, DateTime, DateTime) stamps = Stamps();
        string certificateFile = _options.CertificateFile!;
        string keyFile = _options.KeyFile ?? certificateFile;
        X509Certificate2 leaf = _options.KeyPassword is null
            ? X509Certificate2.CreateFromPemFile(certificateFile, keyFile)
            : X509Certificate2.CreateFromEncryptedPemFile(certificateFile, _options.KeyPassword, keyFile);
        if (!leaf.HasPrivateKey)
        {
            throw new ArgumentException($"{keyFile} has no private key for {certificateFile}.");
        }

        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(certificateFile);
        var intermediates = new X509Certificate2Collection();
        for (int i = 1; i < chain.Count; i++)
        {
            intermediates.Add(chain[i]);
        }

        var trusted = new X509Certificate2Collection();
        if (_options.CaFile is not null)
        {
            trusted.ImportFromPemFile(_options.CaFile);
            if (trusted.Count == 0)
            {
                throw new ArgumentException($"{_options.CaFile} has no certificate.");
            }
        }

        return (SslStreamCertificateContext.Create(leaf, intermediates, offline: true), trusted, stamps);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Listener {Listener}: TLS certificate loaded ({Subject}, valid until {NotAfter:u})")]
        public static partial void Reloaded(ILogger logger, string listener, string subject, DateTime notAfter);

        [LoggerMessage(EventId = 5002, Level = LogLevel.Error, Message = "Listener {Listener}: reloading the TLS certificate failed; the previous one stays in use")]
        public static partial void ReloadFailed(ILogger logger, Exception exception, string listener);

        [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "Listener {Listener}: client certificate {Subject} is not trusted")]
        public static partial void ClientCertificateRejected(ILogger logger, string listener, string subject);
    }
}
