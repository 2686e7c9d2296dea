namespace LogBroker.Client.Consumer;

/// <summary>auto.offset.reset: where to start when a partition has no committed offset (or it is out of range).</summary>
public enum AutoOffsetReset
{
    /// <summary>From the log end: only records produced from now on.</summary>
    Latest,

    /// <summary>From the log start: everything still retained.</summary>
    Earliest,

    /// <summary>Fail with OFFSET_OUT_OF_RANGE.</summary>
    Error,
}

/// <summary>group.protocol: which group membership protocol the consumer speaks.</summary>
public enum GroupProtocol
{
    /// <summary>The classic protocol: JoinGroup/SyncGroup, assignment computed by the leader member.</summary>
    Classic,

    /// <summary>The server-side protocol of KIP-848: ConsumerGroupHeartbeat, assignment computed by the broker.</summary>
    Consumer,
}

/// <summary>Settings of a <see cref="KafkaConsumer"/>, named after the Kafka consumer settings.</summary>
public sealed record ConsumerOptions : ClientOptions
{
    /// <summary>group.id: the consumer group; null for a consumer that only assigns partitions itself.</summary>
    public string? GroupId { get; init; }

    /// <summary>group.instance.id: a static member id that survives restarts without a rebalance; null for dynamic membership.</summary>
    public string? GroupInstanceId { get; init; }

    /// <summary>group.protocol. Default <see cref="GroupProtocol.Classic"/>.</summary>
    public GroupProtocol GroupProtocol { get; init; } = GroupProtocol.Classic;

    /// <summary>partition.assignment.strategy for the classic protocol, in order of preference. Default range, then cooperative-sticky (as the Java client).</summary>
    public IReadOnlyList<PartitionAssignmentStrategy> PartitionAssignmentStrategies { get; init; } = [PartitionAssignmentStrategy.Range, PartitionAssignmentStrategy.CooperativeSticky];

    /// <summary>auto.offset.reset. Default <see cref="AutoOffsetReset.Latest"/>.</summary>
    public AutoOffsetReset AutoOffsetReset { get; init; } = AutoOffsetReset.Latest;

    /// <summary>enable.auto.commit: commit the position of what was consumed, every <see cref="AutoCommitInterval"/> and on revocation and close. Default true.</summary>
    public bool EnableAutoCommit { get; init; } = true;

    /// <summary>auto.commit.interval.ms. Default 5 s.</summary>
    public TimeSpan AutoCommitInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>session.timeout.ms: a member silent for this long is removed from the group (classic protocol). Default 45 s.</summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromSeconds(45);

    /// <summary>heartbeat.interval.ms (classic protocol; the broker sets it for the server-side protocol). Default 3 s.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>max.poll.interval.ms: also the rebalance timeout the member announces. Default 5 min.</summary>
    public TimeSpan MaxPollInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>fetch.min.bytes: the broker waits for this much data (up to <see cref="FetchMaxWait"/>). Default 1.</summary>
    public int FetchMinBytes { get; init; } = 1;

    /// <summary>fetch.max.wait.ms. Default 500 ms.</summary>
    public TimeSpan FetchMaxWait { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>fetch.max.bytes: the most data one fetch response carries. Default 50 MiB.</summary>
    public int FetchMaxBytes { get; init; } = 50 * 1024 * 1024;

    /// <summary>max.partition.fetch.bytes: the most data per partition in one fetch (at least one batch is always returned). Default 1 MiB.</summary>
    public int MaxPartitionFetchBytes { get; init; } = 1024 * 1024;

    /// <summary>The most fetched bytes buffered ahead of the application (prefetch bound). Default 64 MiB.</summary>
    public long QueuedMaxBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>check.crcs: verify each batch's CRC-32C. Default true.</summary>
    public bool CheckCrcs { get; init; } = true;

    /// <summary>allow.auto.create.topics: subscribing to a missing topic creates it. Default false.</summary>
    public bool AllowAutoCreateTopics { get; init; }

    internal void Validate()
    {
        ValidateCommon();
        if (GroupId is { Length: 0 })
        {
            throw new ArgumentException("GroupId is empty; use null for no group.", nameof(GroupId));
        }

        Positive(SessionTimeout, nameof(SessionTimeout));
        Positive(HeartbeatInterval, nameof(HeartbeatInterval));
        Positive(AutoCommitInterval, nameof(AutoCommitInterval));
        if (HeartbeatInterval >= SessionTimeout)
        {
            throw new ArgumentException("HeartbeatInterval must be lower than SessionTimeout.", nameof(HeartbeatInterval));
        }

        if (PartitionAssignmentStrategies.Count == 0)
        {
            throw new ArgumentException("PartitionAssignmentStrategies is empty.", nameof(PartitionAssignmentStrategies));
        }

        if (FetchMaxBytes < 1 || MaxPartitionFetchBytes < 1 || QueuedMaxBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(FetchMaxBytes), "Fetch sizes must be positive.");
        }
    }
}
