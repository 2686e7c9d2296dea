using System.Security.Authentication;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Client.Network;

/// <summary>
/// A connection's TLS and SASL settings, from <see cref="ClientOptions"/>: <c>security.protocol</c>,
/// <c>sasl.mechanism</c>/<c>sasl.username</c>/<c>sasl.password</c>, <c>ssl.ca.location</c> (else the system
/// store), an optional client certificate, and <c>ssl.endpoint.identification.algorithm</c>.
/// </summary>
internal sealed class ClientSecurity
{
    private readonly TlsClient? _tls;

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
        if (UseTls)
        {
            _tls = TlsClient.FromPem(options.SslCaLocation, options.SslCertificateLocation, options.SslKeyLocation, options.SslKeyPassword, CheckHostName);
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
            if (!SaslExchange.IsSupported(options.SaslMechanism.ToUpperInvariant()))
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
        try
        {
            return await _tls!.AuthenticateAsync(transport, host, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            throw new KafkaException(ErrorCode.NetworkException, $"TLS handshake with {host} failed: {e.Message}", e);
        }
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

        SaslOutcome outcome = await SaslExchange.RunAsync(Mechanism, Username, Password, connection.Endpoint,
            (request, token) => connection.SendAsync<SaslHandshakeResponse>(ApiKey.SaslHandshake, 1, request, token),
            (request, token) => connection.SendAsync<SaslAuthenticateResponse>(ApiKey.SaslAuthenticate, authenticateVersion, request, token),
            cancellationToken).ConfigureAwait(false);
        if (outcome.Error != ErrorCode.None)
        {
            throw new KafkaException(outcome.Error, outcome.Message!);
        }

        return outcome.SessionLifetimeMs;
    }
}
