using LogBroker.Protocol;
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
/// A classic consumer group's state, hung on its id's <see cref="GroupEntry"/> while the classic
/// protocol owns the id. Not thread-safe: the <see cref="GroupCoordinator"/> holds <see cref="Sync"/>
/// (the entry's lock) around every use.
/// </summary>
internal sealed class ClassicGroup(GroupEntry entry) : IGroupProtocol
{
    public string Id => Entry.Id;

    /// <summary>The id's entry: its lock and committed offsets.</summary>
    public GroupEntry Entry { get; } = entry;

    public Lock Sync => Entry.Sync;

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

    public bool HasMembers => State != GroupState.Empty || Members.Count > 0 || PendingMemberIds.Count > 0;

    public (string State, string ProtocolType, string Type) Listing => (State.ToString(), ProtocolType ?? "", "classic");

    /// <summary>Whether the member may act at <paramref name="generation"/>: fencing of static members, then id, then generation.</summary>
    public ErrorCode CheckMember(string memberId, string? instanceId, int generation)
    {
        if (instanceId is not null && StaticMembers.TryGetValue(instanceId, out string? current) && current != memberId)
        {
            return ErrorCode.FencedInstanceId;
        }

        if (!Members.ContainsKey(memberId))
        {
            return ErrorCode.UnknownMemberId;
        }

        return generation != Generation ? ErrorCode.IllegalGeneration : ErrorCode.None;
    }

    /// <summary>A standalone commit (generation -1, no member id) is accepted while the group is Empty; others are checked as members.</summary>
    public ErrorCode CheckCommit(string memberId, string? instanceId, int generation, long now)
    {
        if (generation < 0 && memberId.Length == 0 && State == GroupState.Empty)
        {
            return ErrorCode.None;
        }

        ErrorCode error = CheckMember(memberId, instanceId, generation);
        if (error != ErrorCode.None)
        {
            return error;
        }

        if (State == GroupState.CompletingRebalance)
        {
            return ErrorCode.RebalanceInProgress;
        }

        Members[memberId].LastSeen = now;
        return ErrorCode.None;
    }

    /// <summary>Topics in the members' consumer-protocol subscriptions (unreadable metadata counts as none).</summary>
    public void Unload()
    {
        foreach (GroupMember member in Members.Values)
        {
            member.PendingJoin?.TrySetResult(new JoinGroupResponse { ErrorCode = (short)ErrorCode.NotCoordinator, MemberId = member.Id });
            member.PendingSync?.TrySetResult(new SyncGroupResponse { ErrorCode = (short)ErrorCode.NotCoordinator });
        }
    }

    public void AddSubscribedTopics(HashSet<string> topics)
    {
        if (ProtocolType != "consumer" || ProtocolName is not { } protocol)
        {
            return;
        }

        foreach (GroupMember member in Members.Values)
        {
            if (member.MetadataFor(protocol) is not { Length: >= 2 } metadata)
            {
                continue;
            }

            var reader = new Protocol.Primitives.KafkaReader(metadata);
            short version = Math.Min(reader.ReadInt16(), ConsumerProtocolSubscription.HighestVersion);
            var subscription = new ConsumerProtocolSubscription();
            subscription.Read(ref reader, Math.Max(version, (short)0));
            topics.UnionWith(subscription.Topics);
        }
    }
}
