namespace LogBroker.Client.Consumer;

/// <summary>The client-side assignors a classic-protocol group can use; the leader member runs them.</summary>
public enum PartitionAssignmentStrategy
{
    /// <summary>Kafka's "range": per topic, consecutive partitions to members sorted by id.</summary>
    Range,

    /// <summary>Kafka's "roundrobin": all partitions dealt in turn to members sorted by id.</summary>
    RoundRobin,

    /// <summary>Kafka's "cooperative-sticky": balanced, keeps owned partitions, incremental rebalances.</summary>
    CooperativeSticky,
}

/// <summary>One member of a classic group, as the leader sees it in JoinGroup's response.</summary>
/// <param name="MemberId">The member id the coordinator gave.</param>
/// <param name="GroupInstanceId">The static member id, when the member has one.</param>
/// <param name="Topics">The topics the member subscribes to.</param>
/// <param name="OwnedPartitions">The partitions the member owns now (cooperative protocol; empty for eager ones).</param>
/// <param name="Generation">The generation in which the member owned them (-1 when unknown).</param>
internal sealed record AssignorMember(
    string MemberId,
    string? GroupInstanceId,
    IReadOnlyList<string> Topics,
    IReadOnlyList<TopicPartition> OwnedPartitions,
    int Generation);

/// <summary>A client-side partition assignor.</summary>
internal interface IPartitionAssignor
{
    /// <summary>The protocol name sent in JoinGroup ("range", "roundrobin", "cooperative-sticky").</summary>
    string Name { get; }

    /// <summary>True for the cooperative protocol (incremental revocation), false for eager ones.</summary>
    bool IsCooperative { get; }

    /// <summary>
    /// Assigns every partition of every subscribed topic to exactly one member that subscribes to its
    /// topic. Cooperative assignors leave out a partition that moves away from its current owner (it is
    /// assigned in the follow-up rebalance, once the owner has revoked it). Deterministic for equal input.
    /// </summary>
    /// <param name="members">The group's members.</param>
    /// <param name="partitionCounts">The partition count of each subscribed topic (topics unknown to metadata are absent).</param>
    /// <returns>The partitions of each member id; every member id is present, possibly with an empty list.</returns>
    Dictionary<string, List<TopicPartition>> Assign(IReadOnlyList<AssignorMember> members, IReadOnlyDictionary<string, int> partitionCounts);
}
