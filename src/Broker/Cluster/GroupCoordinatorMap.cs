using LogBroker.Protocol;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// Which broker coordinates a consumer group in cluster mode, as Kafka decides it: the leader of partition
/// <c>Utils.abs(groupId.hashCode()) % N</c> of <c>__consumer_offsets</c> (N its partition count; Java's
/// String.hashCode over the id's UTF-16 code units, and Kafka's abs, which maps int.MinValue to 0), so a client
/// that computed it itself would agree. The group's committed offsets live in that partition, replicated
/// (<see cref="ReplicatedOffsetStore"/>): when its leader changes, the new leader loads them and coordinates the group.
/// </summary>
internal sealed class GroupCoordinatorMap(ClusterService cluster, ReplicatedOffsetStore? offsets = null)
{
    /// <summary>The offsets topic.</summary>
    public const string OffsetsTopic = "__consumer_offsets";

    /// <summary>Java's <c>String.hashCode</c>.</summary>
    public static int JavaHashCode(string value)
    {
        var h = 0;
        foreach (var c in value)
        {
            h = unchecked((31 * h) + c);
        }

        return h;
    }

    /// <summary>Kafka's <c>Utils.abs(groupId.hashCode()) % partitions</c>.</summary>
    public static int PartitionFor(string groupId, int partitions)
    {
        var h = JavaHashCode(groupId);
        return (h == int.MinValue ? 0 : Math.Abs(h)) % partitions;
    }

    /// <summary>The group's coordinator, or the retriable COORDINATOR_NOT_AVAILABLE (no offsets topic yet, or its partition has no live leader).</summary>
    public (ErrorCode Error, BrokerRegistration? Coordinator) Find(string groupId)
    {
        var (error, coordinator, _) = Locate(groupId);
        return (error, coordinator);
    }

    /// <summary>
    /// The error a group request for <paramref name="groupId"/> gets on this broker, or null when this broker
    /// coordinates it: NOT_COORDINATOR (the client looks the coordinator up again), COORDINATOR_NOT_AVAILABLE while
    /// there is none, or COORDINATOR_LOAD_IN_PROGRESS while this broker, its new coordinator, loads the group's offsets
    /// partition.
    /// </summary>
    public ErrorCode? Refusal(string groupId)
    {
        var (error, coordinator, partition) = Locate(groupId);
        return error != ErrorCode.None ? error
            : coordinator!.Id != cluster.BrokerId ? ErrorCode.NotCoordinator
            : offsets is not null && !offsets.IsLoaded(partition) ? ErrorCode.CoordinatorLoadInProgress
            : null;
    }

    private (ErrorCode Error, BrokerRegistration? Coordinator, int Partition) Locate(string groupId)
    {
        var cache = cluster.Cache;
        if (cache.Topic(OffsetsTopic) is not { } topic)
        {
            return (ErrorCode.CoordinatorNotAvailable, null, -1);
        }

        int partition = PartitionFor(groupId, topic.Partitions);
        if (cache.Partition(OffsetsTopic, partition) is { Leader: >= 0 } state && cache.Brokers.TryGetValue(state.Leader, out var leader))
        {
            return (ErrorCode.None, leader, partition);
        }

        return (ErrorCode.CoordinatorNotAvailable, null, partition);
    }
}
