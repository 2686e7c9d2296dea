namespace LogBroker.Client;

/// <summary>Settings every client (producer, consumer, admin) shares. Named after the Kafka settings.</summary>
public abstract record ClientOptions
{
    /// <summary>bootstrap.servers: comma-separated host:port pairs used to discover the cluster. Default "127.0.0.1:9092".</summary>
    public string BootstrapServers { get; init; } = "127.0.0.1:9092";

    /// <summary>client.id: sent with every request, shown in broker logs. Default "logbroker-dotnet".</summary>
    public string ClientId { get; init; } = "logbroker-dotnet";

    /// <summary>request.timeout.ms: how long a request waits for its response before the connection is dropped. Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>socket.connection.setup.timeout.ms: how long a TCP connect may take. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>reconnect.backoff.ms: the first wait before reconnecting to a broker that failed. Default 50 ms.</summary>
    public TimeSpan ReconnectBackoff { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>reconnect.backoff.max.ms: the longest wait between reconnect attempts (the wait doubles up to it). Default 1 s.</summary>
    public TimeSpan ReconnectBackoffMax { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>retry.backoff.ms: the wait before retrying a failed request. Default 100 ms.</summary>
    public TimeSpan RetryBackoff { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>metadata.max.age.ms: cached metadata older than this is refreshed. Default 5 min.</summary>
    public TimeSpan MetadataMaxAge { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>max.in.flight.requests.per.connection: requests sent on a connection before a response must come back. Default 5.</summary>
    public int MaxInFlightRequestsPerConnection { get; init; } = 5;

    /// <summary>The largest response frame accepted from a broker. Default 128 MiB.</summary>
    public int MaxResponseBytes { get; init; } = 128 * 1024 * 1024;

    /// <summary>
    /// The clock and timers every time-based setting runs on (linger, timeouts, backoffs, auto-commit,
    /// heartbeats). Default <see cref="TimeProvider.System"/>; tests pass a fake one.
    /// </summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>security.protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL. Default PLAINTEXT.</summary>
    public string SecurityProtocol { get; init; } = "PLAINTEXT";

    /// <summary>sasl.mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* protocols). Default PLAIN.</summary>
    public string SaslMechanism { get; init; } = "PLAIN";

    /// <summary>sasl.username. Default null.</summary>
    public string? SaslUsername { get; init; }

    /// <summary>sasl.password. Default null.</summary>
    public string? SaslPassword { get; init; }

    /// <summary>ssl.ca.location: PEM file of the CAs trusted for the broker's certificate. Default null: the system store.</summary>
    public string? SslCaLocation { get; init; }

    /// <summary>ssl.certificate.location: PEM client certificate (mTLS). Default null: none.</summary>
    public string? SslCertificateLocation { get; init; }

    /// <summary>ssl.key.location: PEM private key of the client certificate. Default: the certificate file.</summary>
    public string? SslKeyLocation { get; init; }

    /// <summary>ssl.key.password: password of an encrypted client key. Default null.</summary>
    public string? SslKeyPassword { get; init; }

    /// <summary>ssl.endpoint.identification.algorithm: "https" checks the broker's host name against its certificate, "none" does not. Default "https".</summary>
    public string SslEndpointIdentificationAlgorithm { get; init; } = "https";

    internal void ValidateCommon()
    {
        if (string.IsNullOrWhiteSpace(BootstrapServers))
        {
            throw new ArgumentException("BootstrapServers is empty.", nameof(BootstrapServers));
        }

        _ = Network.Endpoints.Parse(BootstrapServers);
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
        Network.ClientSecurity.Validate(this);
        Positive(RequestTimeout, nameof(RequestTimeout));
        Positive(ConnectTimeout, nameof(ConnectTimeout));
        if (MaxInFlightRequestsPerConnection < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxInFlightRequestsPerConnection), MaxInFlightRequestsPerConnection, "MaxInFlightRequestsPerConnection must be at least 1.");
        }
    }

    private protected static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive.");
        }
    }
}
