using System.ComponentModel.DataAnnotations;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// Cluster mode, bound from the <c>Cluster</c> section. Off (single node, no etcd) unless
/// <c>Cluster:Etcd:Endpoints</c> names at least one etcd member.
/// </summary>
public sealed class ClusterOptions : IValidatableObject
{
    /// <summary>The etcd connection.</summary>
    public EtcdSettings Etcd { get; set; } = new();

    /// <summary>Whether cluster mode is on.</summary>
    public bool Enabled => Etcd.Endpoints.Length > 0;

    /// <summary>TTL of this broker's registration lease: how long after a crash the cluster notices. Default 10 s.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A prefix for every key (several clusters on one etcd). Default empty; else it starts with '/'.</summary>
    public string KeyRoot { get; set; } = "";

    /// <summary><c>unclean.leader.election.enable</c>: elect a replica outside the ISR when none is left (loses data). Default false.</summary>
    public bool UncleanLeaderElection { get; set; }

    /// <summary><c>default.replication.factor</c>: replicas of a topic created with replication factor -1 (or auto-created). Default 1, as Kafka's.</summary>
    public int DefaultReplicationFactor { get; set; } = 1;

    /// <summary><c>offsets.topic.num.partitions</c>: partitions of <c>__consumer_offsets</c>, which spread the group coordinators. Default 50.</summary>
    public int OffsetsTopicPartitions { get; set; } = 50;

    /// <summary><c>offsets.topic.replication.factor</c>: replicas of <c>__consumer_offsets</c> (fewer when fewer brokers are registered). Default 3.</summary>
    public int OffsetsTopicReplicationFactor { get; set; } = 3;

    /// <inheritdoc/>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (DefaultReplicationFactor is < 1 or > 32)
        {
            yield return new ValidationResult("Cluster:DefaultReplicationFactor must be between 1 and 32.", [nameof(DefaultReplicationFactor)]);
        }

        if (OffsetsTopicPartitions is < 1 or > 1000)
        {
            yield return new ValidationResult("Cluster:OffsetsTopicPartitions must be between 1 and 1000.", [nameof(OffsetsTopicPartitions)]);
        }

        if (OffsetsTopicReplicationFactor is < 1 or > 32)
        {
            yield return new ValidationResult("Cluster:OffsetsTopicReplicationFactor must be between 1 and 32.", [nameof(OffsetsTopicReplicationFactor)]);
        }

        if (LeaseTtl < TimeSpan.FromSeconds(2) || LeaseTtl > TimeSpan.FromMinutes(5))
        {
            yield return new ValidationResult("Cluster:LeaseTtl must be between 2 seconds and 5 minutes.", [nameof(LeaseTtl)]);
        }

        if (KeyRoot.Length > 0 && (!KeyRoot.StartsWith('/') || KeyRoot.EndsWith('/')))
        {
            yield return new ValidationResult("Cluster:KeyRoot must be empty or start with '/' and not end with one.", [nameof(KeyRoot)]);
        }

        if (Etcd.CallTimeout <= TimeSpan.Zero)
        {
            yield return new ValidationResult("Cluster:Etcd:CallTimeout must be positive.", ["Etcd.CallTimeout"]);
        }

        foreach (var endpoint in Etcd.Endpoints)
        {
            if (!Uri.TryCreate(endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : "http://" + endpoint, UriKind.Absolute, out _))
            {
                yield return new ValidationResult($"Cluster:Etcd:Endpoints: '{endpoint}' is not a URL.", ["Etcd.Endpoints"]);
            }
        }
    }

    /// <summary>The etcd members and call limits.</summary>
    public sealed class EtcdSettings
    {
        /// <summary>Client URLs of the etcd members (http://host:port). Empty: single-node mode.</summary>
        public string[] Endpoints { get; set; } = [];

        /// <summary>Deadline of one etcd call before the next member is tried. Default 5 s.</summary>
        public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(5);
    }
}
