using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Groups;

/// <summary>States of a classic consumer group (Kafka's ClassicGroupState).</summary>
internal enum GroupState
{
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

/// <summary>A committed offset with what the client stored beside it.</summary>
internal sealed record CommittedOffset(long Offset, int LeaderEpoch, string? Metadata, long CommitTimestamp);

/// <summary>One member of a classic group.</summary>
internal sealed class GroupMember(string id)
{
    public string Id { get; } = id;

    public string? InstanceId { get; set; }

    public string ClientId { get; set; } = "";

    public string ClientHost { get; set; } = "";

    public TimeSpan SessionTimeout { get; set; }

    public TimeSpan RebalanceTimeout { get; set; }

    public List<(string Name, byte[] Metadata)> Protocols { get; set; } = [];

    public byte[] Assignment { get; set; } = [];

    /// <summary>Set while the member's JoinGroup waits for the join phase to end.</summary>
    public TaskCompletionSource<JoinGroupResponse>? PendingJoin { get; set; }

    /// <summary>Set while the member's SyncGroup waits for the leader's assignment.</summary>
    public TaskCompletionSource<SyncGroupResponse>? PendingSync { get; set; }

    /// <summary><see cref="TimeProvider.GetTimestamp"/> of the member's last Join, Sync or Heartbeat.</summary>
    public long LastSeen { get; set; }

    public byte[]? MetadataFor(string protocol)
    {
        foreach ((string name, byte[] metadata) in Protocols)
        {
            if (name == protocol)
            {
                return metadata;
            }
        }

        return null;
    }
}

/// <summary>
/// A classic consumer group's state. Not thread-safe: the <see cref="GroupCoordinator"/> holds
/// <see cref="Sync"/> around every use.
/// </summary>
internal sealed class ClassicGroup(string id)
{
    public string Id { get; } = id;

    public Lock Sync { get; } = new();

    public GroupState State { get; set; } = GroupState.Empty;

    public int Generation { get; set; }

    public string? ProtocolType { get; set; }

    public string? ProtocolName { get; set; }

    public string? LeaderId { get; set; }

    public Dictionary<string, GroupMember> Members { get; } = new(StringComparer.Ordinal);

    /// <summary>KIP-394 member ids handed out with MEMBER_ID_REQUIRED, with when they expire.</summary>
    public Dictionary<string, long> PendingMemberIds { get; } = new(StringComparer.Ordinal);

    /// <summary>group.instance.id → member id of the static members.</summary>
    public Dictionary<string, string> StaticMembers { get; } = new(StringComparer.Ordinal);

    /// <summary>When the current join phase ends at the latest (timestamp).</summary>
    public long JoinDeadline { get; set; }

    /// <summary>Before this timestamp a join phase that started from Empty does not end early (initial rebalance delay).</summary>
    public long JoinNotBefore { get; set; }

    public Dictionary<(string Topic, int Partition), CommittedOffset> Offsets { get; } = [];

    /// <summary>When the group last became Empty (for offset expiry), as a timestamp.</summary>
    public long EmptySince { get; set; }

    /// <summary>Before this timestamp offset expiry is not retried (after a failed attempt).</summary>
    public long ExpiryRetryAt { get; set; }

    /// <summary>
    /// Set while the id belongs to a server-side (KIP-848) group with members: classic members cannot
    /// join, and commits are checked against the server-side members.
    /// </summary>
    public ConsumerGroup? ServerSide { get; set; }
}
