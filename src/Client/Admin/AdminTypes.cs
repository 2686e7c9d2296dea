namespace LogBroker.Client.Admin;

/// <summary>Settings of an <see cref="AdminClient"/>.</summary>
public sealed record AdminOptions : ClientOptions
{
    /// <summary>How long a topic operation may take on the broker (the request's timeout_ms). Default 30 s.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>A topic to create.</summary>
/// <param name="Name">The topic name.</param>
/// <param name="Partitions">The partition count (-1: the broker's default).</param>
/// <param name="ReplicationFactor">The replication factor (-1: the broker's default).</param>
/// <param name="Configs">Topic configs such as retention.ms; null for none.</param>
public sealed record NewTopic(string Name, int Partitions = -1, short ReplicationFactor = -1, IReadOnlyDictionary<string, string>? Configs = null);

/// <summary>A topic as the metadata describes it.</summary>
/// <param name="Name">The topic name.</param>
/// <param name="TopicId">The topic id.</param>
/// <param name="Partitions">Each partition's index and leader node id.</param>
/// <param name="IsInternal">True for internal topics such as __consumer_offsets.</param>
public sealed record TopicDescription(string Name, Guid TopicId, IReadOnlyList<PartitionDescription> Partitions, bool IsInternal);

/// <summary>A partition as the metadata describes it.</summary>
/// <param name="Partition">The partition index.</param>
/// <param name="Leader">The leader's node id.</param>
/// <param name="Replicas">The replicas' node ids.</param>
/// <param name="Isr">The in-sync replicas' node ids.</param>
public sealed record PartitionDescription(int Partition, int Leader, IReadOnlyList<int> Replicas, IReadOnlyList<int> Isr);

/// <summary>One config entry of a resource.</summary>
/// <param name="Name">The config name.</param>
/// <param name="Value">The value (null when sensitive or unset).</param>
/// <param name="IsDefault">True when the value is the default.</param>
/// <param name="IsReadOnly">True when the config cannot be altered.</param>
/// <param name="IsSensitive">True when the value is hidden.</param>
public sealed record ConfigEntry(string Name, string? Value, bool IsDefault, bool IsReadOnly, bool IsSensitive);

/// <summary>How <see cref="ConfigChange"/> alters a config.</summary>
public enum ConfigOperation
{
    /// <summary>Sets the value.</summary>
    Set = 0,

    /// <summary>Removes the override so the default applies.</summary>
    Delete = 1,
}

/// <summary>One config change for <see cref="AdminClient.AlterTopicConfigsAsync"/>.</summary>
/// <param name="Name">The config name.</param>
/// <param name="Value">The new value (ignored for <see cref="ConfigOperation.Delete"/>).</param>
/// <param name="Operation">Set or delete.</param>
public sealed record ConfigChange(string Name, string? Value, ConfigOperation Operation = ConfigOperation.Set);

/// <summary>A group from ListGroups.</summary>
/// <param name="GroupId">The group id.</param>
/// <param name="ProtocolType">"consumer" for consumer groups.</param>
/// <param name="State">The state (Empty, Stable, …) when the broker reports it.</param>
/// <param name="Type">"classic" or "consumer" when the broker reports it.</param>
public sealed record GroupListing(string GroupId, string ProtocolType, string State, string Type);

/// <summary>A group from DescribeGroups.</summary>
/// <param name="GroupId">The group id.</param>
/// <param name="State">The state (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead).</param>
/// <param name="ProtocolType">"consumer" for consumer groups.</param>
/// <param name="Protocol">The chosen assignor ("range", …).</param>
/// <param name="Members">The members and their assignments.</param>
public sealed record GroupDescription(string GroupId, string State, string ProtocolType, string Protocol, IReadOnlyList<GroupMemberDescription> Members);

/// <summary>A member of a group.</summary>
/// <param name="MemberId">The member id.</param>
/// <param name="GroupInstanceId">The static member id, if any.</param>
/// <param name="ClientId">The member's client id.</param>
/// <param name="ClientHost">The member's host.</param>
/// <param name="Assignment">The partitions assigned to the member.</param>
public sealed record GroupMemberDescription(string MemberId, string? GroupInstanceId, string ClientId, string ClientHost, IReadOnlyList<TopicPartition> Assignment);

/// <summary>Which offset <see cref="AdminClient.ListOffsetsAsync"/> looks up.</summary>
public readonly record struct OffsetSpec
{
    private OffsetSpec(long timestamp) => Timestamp = timestamp;

    /// <summary>-2 for earliest, -1 for latest, else a timestamp in Unix milliseconds.</summary>
    public long Timestamp { get; }

    /// <summary>The log start offset.</summary>
    public static OffsetSpec Earliest => new(-2);

    /// <summary>The log end offset (the offset the next record gets).</summary>
    public static OffsetSpec Latest => new(-1);

    /// <summary>The first offset whose timestamp is at or after <paramref name="time"/> (the log end when none is).</summary>
    public static OffsetSpec ForTime(DateTimeOffset time) => new(time.ToUnixTimeMilliseconds());
}

/// <summary>A partition's size on disk, from <see cref="AdminClient.DescribeLogDirsAsync"/>.</summary>
/// <param name="Partition">The partition.</param>
/// <param name="Bytes">Bytes of its log segments.</param>
public sealed record PartitionSize(TopicPartition Partition, long Bytes);

/// <summary>An offset found by <see cref="AdminClient.ListOffsetsAsync"/>.</summary>
/// <param name="Partition">The partition.</param>
/// <param name="Offset">The offset.</param>
/// <param name="Timestamp">The record's timestamp for a time lookup, else -1.</param>
public sealed record ListedOffset(TopicPartition Partition, long Offset, long Timestamp);

/// <summary>The cluster as DescribeCluster describes it.</summary>
/// <param name="ClusterId">The cluster id.</param>
/// <param name="ControllerId">The controller's broker id, or -1 while there is none.</param>
/// <param name="Brokers">Every registered broker, by id.</param>
public sealed record ClusterDescription(string ClusterId, int ControllerId, IReadOnlyList<BrokerDescription> Brokers);

/// <summary>A broker of the cluster.</summary>
/// <param name="Id">The broker id.</param>
/// <param name="Host">Its advertised host.</param>
/// <param name="Port">Its advertised port.</param>
/// <param name="Rack">Its rack, or null.</param>
public sealed record BrokerDescription(int Id, string Host, int Port, string? Rack);

/// <summary>A partition's new replica list for <see cref="AdminClient.AlterPartitionReassignmentsAsync"/>; the first replica is the preferred leader.</summary>
/// <param name="Partition">The partition.</param>
/// <param name="Replicas">Its replicas, by broker id.</param>
public sealed record PartitionReassignment(TopicPartition Partition, IReadOnlyList<int> Replicas);
