using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Client.Network;

/// <summary>
/// A connection's TLS and SASL settings, from <see cref="ClientOptions"/>: <c>security.protocol</c>,
/// <c>sasl.mechanism</c>/<c>sasl.username</c>/<c>sasl.password</c>, <c>ssl.ca.location</c> (else the system
/// store), an optional client certificate, and <c>ssl.endpoint.identification.algorithm</c>.
/// </summary>
internal sealed class ClientSecurity
{
    /// <summary>The most SCRAM iterations a broker may ask for; more fails (a hostile broker cannot make the client spin).</summary>
    public const int MaxScramIterations = 100_000;

    /// <summary>The largest SASL token accepted from a broker.</summary>
    public const int MaxTokenBytes = 64 * 1024;

    private readonly X509Certificate2Collection? _trusted;
    private readonly X509Certificate2? _clientCertificate;

    private ClientSecurity(ClientOptions options)
    {
        string protocol = options.SecurityProtocol.ToUpperInvariant();
        UseTls = protocol is "SSL" or "SASL_SSL";
        UseSasl = protocol is "SASL_PLAINTEXT" or "SASL_SSL";
        Mechanism = options.SaslMechanism.ToUpperInvariant();
        Username = options.SaslUsername ?? "";
        Password = options.SaslPassword ?? "";
        CheckHostName = !string.Equals(options.SslEndpointIdentificationAlgorithm, "none", StringComparison.OrdinalIgnoreCase)
            && options.SslEndpointIdentificationAlgorithm.Length > 0;
        if (UseTls && options.SslCaLocation is not null)
        {
            _trusted = [];
            _trusted.ImportFromPemFile(options.SslCaLocation);
        }

        if (UseTls && options.SslCertificateLocation is not null)
        {
            string key = options.SslKeyLocation ?? options.SslCertificateLocation;
            _clientCertificate = options.SslKeyPassword is null
                ? X509Certificate2.CreateFromPemFile(options.SslCertificateLocation, key)
                : X509Certificate2.CreateFromEncryptedPemFile(options.SslCertificateLocation, options.SslKeyPassword, key);
        }
    }

    public bool UseTls { get; }

    public bool UseSasl { get; }

    public string Mechanism { get; }

    public string Username { get; }

    public string Password { get; }

    public bool CheckHostName { get; }

    /// <summary>Null for PLAINTEXT (nothing to do on connect).</summary>
    public static ClientSecurity? From(ClientOptions options)
    {
        Validate(options);
        return options.SecurityProtocol.Equals("PLAINTEXT", StringComparison.OrdinalIgnoreCase) ? null : new ClientSecurity(options);
    }

    public static void Validate(ClientOptions options)
    {
        string protocol = options.SecurityProtocol.ToUpperInvariant();
        if (protocol is not ("PLAINTEXT" or "SSL" or "SASL_PLAINTEXT" or "SASL_SSL"))
        {
            throw new ArgumentException($"SecurityProtocol '{options.SecurityProtocol}' is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.", nameof(options));
        }

        if (protocol.StartsWith("SASL", StringComparison.Ordinal))
        {
            if (options.SaslMechanism.ToUpperInvariant() is not ("PLAIN" or "SCRAM-SHA-256" or "SCRAM-SHA-512"))
            {
                throw new ArgumentException($"SaslMechanism '{options.SaslMechanism}' is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.", nameof(options));
            }

            if (string.IsNullOrEmpty(options.SaslUsername) || options.SaslPassword is null)
            {
                throw new ArgumentException("SASL needs SaslUsername and SaslPassword.", nameof(options));
            }
        }
    }

    /// <summary>TLS over <paramref name="transport"/>; throws <see cref="KafkaException"/> (NetworkException) when the handshake fails.</summary>
    public async Task<Stream> WrapAsync(Stream transport, string host, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(transport, leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = host,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => ValidateServer(certificate, errors),
        };
        if (_clientCertificate is not null)
        {
            options.ClientCertificates = [_clientCertificate];
        }

        try
        {
            await ssl.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
            return ssl;
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new KafkaException(ErrorCode.NetworkException, $"TLS handshake with {host} failed: {e.Message}", e);
        }
    }

    private bool ValidateServer(X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null)
        {
            return false;
        }

        if (!CheckHostName)
        {
            errors &= ~SslPolicyErrors.RemoteCertificateNameMismatch;
        }

        if (_trusted is null)
        {
            return errors == SslPolicyErrors.None;
        }

        if ((errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_trusted);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }

    /// <summary>
    /// SaslHandshake v1 then SaslAuthenticate until done; returns the session lifetime the broker gave
    /// (KIP-368; zero: none). Throws <see cref="KafkaException"/> with SASL_AUTHENTICATION_FAILED (the broker's message) on failure.
    /// </summary>
    public async Task<long> AuthenticateAsync(BrokerConnection connection, CancellationToken cancellationToken)
    {
        short handshakeVersion = Math.Min(connection.BrokerMaxVersion(ApiKey.SaslHandshake), (short)1);
        short authenticateVersion = Math.Min(connection.BrokerMaxVersion(ApiKey.SaslAuthenticate), (short)2);
        if (handshakeVersion < 1 || authenticateVersion < 0)
        {
            throw new KafkaException(ErrorCode.UnsupportedVersion, $"The broker at {connection.Endpoint} does not support SaslHandshake v1 and SaslAuthenticate.");
        }

        SaslHandshakeResponse handshake = await connection.SendAsync<SaslHandshakeResponse>(ApiKey.SaslHandshake, 1,
            new SaslHandshakeRequest { Mechanism = Mechanism }, cancellationToken).ConfigureAwait(false);
        if (handshake.ErrorCode != 0)
        {
            throw new KafkaException((ErrorCode)handshake.ErrorCode,
                $"SASL handshake with {connection.Endpoint} failed: {(ErrorCode)handshake.ErrorCode} (the broker offers {string.Join(", ", handshake.Mechanisms)}).");
        }

        ISaslClient client = Mechanism == "PLAIN" ? new PlainClient(Username, Password) : new ScramClient(Mechanism, Username, Password);
        byte[]? token = client.First();
        long lifetime = 0;
        for (int round = 0; token is not null; round++)
        {
            if (round > 4)
            {
                throw new KafkaException(ErrorCode.SaslAuthenticationFailed, $"SASL with {connection.Endpoint} did not finish.");
            }

            SaslAuthenticateResponse response = await connection.SendAsync<SaslAuthenticateResponse>(ApiKey.SaslAuthenticate, authenticateVersion,
                new SaslAuthenticateRequest { AuthBytes = token }, cancellationToken).ConfigureAwait(false);
            if (response.ErrorCode != 0)
            {
                throw new KafkaException((ErrorCode)response.ErrorCode, $"SASL authentication with {connection.Endpoint} failed: {response.ErrorMessage ?? ((ErrorCode)response.ErrorCode).ToString()}");
            }

            if (response.AuthBytes.Length > MaxTokenBytes)
            {
                throw new KafkaException(ErrorCode.SaslAuthenticationFailed, $"{connection.Endpoint} sent a SASL token of {response.AuthBytes.Length} bytes.");
            }

            lifetime = response.SessionLifetimeMs;
            token = client.Next(response.AuthBytes.Span, out string? error);
            if (error is not null)
            {
                throw new KafkaException(ErrorCode.SaslAuthenticationFailed, $"SASL authentication with {connection.Endpoint} failed: {error}");
            }
        }

        return lifetime;
    }
}

/// <summary>The client side of a SASL exchange.</summary>
internal interface ISaslClient
{
    byte[] First();

    /// <summary>The next token, or null when done; <paramref name="error"/> set when the server's answer is not acceptable.</summary>
    byte[]? Next(ReadOnlySpan<byte> challenge, out string? error);
}

internal sealed class PlainClient(string user, string password) : ISaslClient
{
    public byte[] First() => Encoding.UTF8.GetBytes("\0" + user + "\0" + password);

    public byte[]? Next(ReadOnlySpan<byte> challenge, out string? error)
    {
        error = null;
        return null;
    }
}

/// <summary>SCRAM-SHA-256/512 client (RFC 5802/7677): checks the server's nonce, bounds its iterations, verifies its signature.</summary>
internal sealed class ScramClient : ISaslClient
{
    private readonly HashAlgorithmName _hash;
    private readonly int _size;
    private readonly string _user;
    private readonly string _password;
    private readonly string _clientNonce;
    private string? _clientFirstBare;
    private byte[]? _serverSignature;
    private int _step;

    public ScramClient(string mechanism, string user, string password, string? nonce = null)
    {
        (_hash, _size) = mechanism == "SCRAM-SHA-512" ? (HashAlgorithmName.SHA512, 64) : (HashAlgorithmName.SHA256, 32);
        _user = user;
        _password = password;
        _clientNonce = nonce ?? Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
    }

    public byte[] First()
    {
        _clientFirstBare = $"n={user(_user)},r={_clientNonce}";
        return Encoding.UTF8.GetBytes("n,," + _clientFirstBare);

        static string user(string name) => name.Replace("=", "=3D", StringComparison.Ordinal).Replace(",", "=2C", StringComparison.Ordinal);
    }

    public byte[]? Next(ReadOnlySpan<byte> challenge, out string? error)
    {
        error = null;
        string message = Encoding.UTF8.GetString(challenge);
        if (_step++ == 0)
        {
            return Final(message, out error);
        }

        if (_step == 2)
        {
            // server-final-message: v=signature (or e=error)
            if (!message.StartsWith("v=", StringComparison.Ordinal))
            {
                error = "the broker's SCRAM final message has no signature.";
                return null;
            }

            byte[] signature;
            try
            {
                signature = Convert.FromBase64String(message[2..]);
            }
            catch (FormatException)
            {
                error = "the broker's SCRAM signature is malformed.";
                return null;
            }

            if (!CryptographicOperations.FixedTimeEquals(signature, _serverSignature))
            {
                error = "the broker's SCRAM signature is wrong (it does not know the password).";
            }

            return null;
        }

        error = "unexpected SCRAM message.";
        return null;
    }

    private byte[]? Final(string serverFirst, out string? error)
    {
        error = null;
        string? nonce = null, salt = null, iterations = null;
        foreach (string part in serverFirst.Split(','))
        {
            if (part.StartsWith("r=", StringComparison.Ordinal))
            {
                nonce = part[2..];
            }
            else if (part.StartsWith("s=", StringComparison.Ordinal))
            {
                salt = part[2..];
            }
            else if (part.StartsWith("i=", StringComparison.Ordinal))
            {
                iterations = part[2..];
            }
            else if (part.StartsWith("m=", StringComparison.Ordinal) || part.StartsWith("e=", StringComparison.Ordinal))
            {
                error = $"the broker answered '{part}'.";
                return null;
            }
        }

        if (nonce is null || salt is null || iterations is null || !nonce.StartsWith(_clientNonce, StringComparison.Ordinal) || nonce.Length == _clientNonce.Length)
        {
            error = "the broker's SCRAM first message is malformed or has a wrong nonce.";
            return null;
        }

        if (!int.TryParse(iterations, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int count)
            || count < 1 || count > ClientSecurity.MaxScramIterations)
        {
            error = $"the broker asks for {iterations} SCRAM iterations (at most {ClientSecurity.MaxScramIterations} are done).";
            return null;
        }

        byte[] saltBytes;
        try
        {
            saltBytes = Convert.FromBase64String(salt);
        }
        catch (FormatException)
        {
            error = "the broker's SCRAM salt is malformed.";
            return null;
        }

        byte[] salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(_password), saltBytes, count, _hash, _size);
        byte[] clientKey = Hmac(salted, "Client Key"u8);
        byte[] storedKey = _hash == HashAlgorithmName.SHA512 ? SHA512.HashData(clientKey) : SHA256.HashData(clientKey);
        string withoutProof = $"c=biws,r={nonce}";
        byte[] authMessage = Encoding.UTF8.GetBytes($"{_clientFirstBare},{serverFirst},{withoutProof}");
        byte[] clientSignature = Hmac(storedKey, authMessage);
        for (int i = 0; i < clientKey.Length; i++)
        {
            clientKey[i] ^= clientSignature[i];
        }

        _serverSignature = Hmac(Hmac(salted, "Server Key"u8), authMessage);
        CryptographicOperations.ZeroMemory(salted);
        return Encoding.UTF8.GetBytes($"{withoutProof},p={Convert.ToBase64String(clientKey)}");
    }

    private byte[] Hmac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data) =>
        _hash == HashAlgorithmName.SHA512 ? HMACSHA512.HashData(key, data) : HMACSHA256.HashData(key, data);
}
