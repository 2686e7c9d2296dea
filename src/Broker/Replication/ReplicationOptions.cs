using System.ComponentModel.DataAnnotations;

namespace LogBroker.Broker.Replication;

/// <summary>The replication data plane's settings (cluster mode only), bound from the <c>Replication</c> section.</summary>
public sealed class ReplicationOptions : IValidatableObject
{
    /// <summary>
    /// Kafka's replica.lag.time.max.ms: a follower that has not caught up with the leader's log end offset for this
    /// long leaves the ISR. Default 30 s.
    /// </summary>
    public TimeSpan ReplicaLagTimeMax { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Kafka's replica.fetch.wait.max.ms: how long a follower's fetch waits at the leader for new data. Default 500 ms.</summary>
    public TimeSpan FetchMaxWait { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Kafka's replica.fetch.max.bytes per partition (at least one batch is always sent). Default 1 MiB.</summary>
    public int FetchMaxBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Kafka's replica.fetch.backoff.ms: the pause after a failed fetch or an unreachable leader, and before a leader
    /// asks again for an ISR change the control plane refused when no newer partition state came meanwhile. Default 1 s.
    /// </summary>
    public TimeSpan FetchBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Kafka's <c>inter.broker.listener.name</c>: the listener other brokers fetch replicas from (its endpoint is the one
    /// registered for replication). Default null: the first listener.
    /// </summary>
    public string? InterBrokerListener { get; set; }

    /// <summary>How this broker, as a follower, connects to the leaders' inter-broker listener: TLS trust and SASL credentials.</summary>
    public InterBrokerSettings InterBroker { get; set; } = new();

    /// <inheritdoc/>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (InterBrokerListener is { Length: 0 })
        {
            yield return new ValidationResult("Replication:InterBrokerListener must name a listener, or be left out.", [nameof(InterBrokerListener)]);
        }

        if (!Protocol.Security.SaslExchange.IsSupported(InterBroker.SaslMechanism.ToUpperInvariant()))
        {
            yield return new ValidationResult("Replication:InterBroker:SaslMechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.", ["InterBroker.SaslMechanism"]);
        }

        if (ReplicaLagTimeMax < TimeSpan.FromMilliseconds(100) || ReplicaLagTimeMax > TimeSpan.FromHours(1))
        {
            yield return new ValidationResult("Replication:ReplicaLagTimeMax must be between 100 ms and 1 hour.", [nameof(ReplicaLagTimeMax)]);
        }

        if (FetchMaxWait <= TimeSpan.Zero || FetchMaxWait >= ReplicaLagTimeMax)
        {
            yield return new ValidationResult("Replication:FetchMaxWait must be positive and below Replication:ReplicaLagTimeMax.", [nameof(FetchMaxWait)]);
        }

        if (FetchMaxBytes < 1024 || FetchMaxBytes > 64 * 1024 * 1024)
        {
            yield return new ValidationResult("Replication:FetchMaxBytes must be between 1 KiB and 64 MiB.", [nameof(FetchMaxBytes)]);
        }

        if (FetchBackoff <= TimeSpan.Zero || FetchBackoff > TimeSpan.FromMinutes(1))
        {
            yield return new ValidationResult("Replication:FetchBackoff must be between 0 and 1 minute.", [nameof(FetchBackoff)]);
        }
    }
}

/// <summary>
/// A follower's side of the inter-broker listener (the <c>Replication:InterBroker</c> section), used as that listener's
/// security protocol asks: for SSL and SASL_SSL the CA bundle that signs the leaders' certificates (and a client
/// certificate when the listener requires one); for SASL_PLAINTEXT and SASL_SSL the mechanism and the credentials of the
/// broker's own user, which needs ClusterAction on the cluster (or to be a super user) when ACLs are on.
/// </summary>
public sealed class InterBrokerSettings
{
    /// <summary>Kafka's <c>sasl.mechanism.inter.broker.protocol</c>. Default SCRAM-SHA-512.</summary>
    public string SaslMechanism { get; set; } = "SCRAM-SHA-512";

    /// <summary>The broker's SASL user.</summary>
    public string? Username { get; set; }

    /// <summary>Its password (give it by environment, <c>LOGBROKER__Replication__InterBroker__Password</c>, not in a file).</summary>
    public string? Password { get; set; }

    /// <summary>PEM bundle of the CAs trusted for the leaders' certificates. Default null: the system store.</summary>
    public string? CaFile { get; set; }

    /// <summary>PEM client certificate chain, for a listener that requires one. Default null: none.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>PEM private key of the client certificate. Default: the certificate file.</summary>
    public string? KeyFile { get; set; }

    /// <summary>Password of an encrypted client key. Default null.</summary>
    public string? KeyPassword { get; set; }

    /// <summary>Whether the leader's certificate must name the host it is reached at (Kafka's https identification). Default true.</summary>
    public bool CheckHostName { get; set; } = true;
}
