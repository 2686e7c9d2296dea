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

    /// <summary>Kafka's replica.fetch.backoff.ms: the pause after a failed fetch or an unreachable leader. Default 1 s.</summary>
    public TimeSpan FetchBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <inheritdoc/>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
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
