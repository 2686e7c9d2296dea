using LogBroker.Broker.Replication;

namespace LogBroker.Broker.Cluster;

/// <summary>What a controller operation came to.</summary>
public enum ControllerResult
{
    /// <summary>Recorded.</summary>
    Ok,

    /// <summary>This controller's epoch is no longer current (deposed), or a state changed under it: nothing written.</summary>
    Fenced,

    /// <summary>The topic already exists.</summary>
    TopicExists,

    /// <summary>The topic does not exist.</summary>
    UnknownTopic,

    /// <summary>More replicas asked for than brokers are registered.</summary>
    InvalidReplicationFactor,

    /// <summary>An explicit assignment names an unregistered broker, a broker twice, or lists of different lengths.</summary>
    InvalidReplicaAssignment,

    /// <summary>The new partition count is not larger than the current one.</summary>
    InvalidPartitions,
}

/// <summary>
/// The controller's decisions, each recorded as one store transaction fenced on the controller epoch: topic
/// creation with replica assignment, topic deletion, and leader election from the ISR when a broker goes.
/// Holds no state of its own between calls (it re-reads the store), so a new controller picks up where a
/// deposed one stopped.
/// </summary>
public sealed class ClusterController(IControllerStore store, ClusterKeys keys, ControllerElection election, long epoch, bool uncleanLeaderElection)
{
    private readonly BrokerRegistrar _registrar = new(store, keys);

    /// <summary>The epoch this controller writes under.</summary>
    public long Epoch => epoch;

    /// <summary>
    /// Creates a topic: assigns replicas over the live brokers, writes the topic record and every partition's
    /// first state (leader = preferred replica, ISR = all replicas, epochs 0) in one fenced transaction.
    /// </summary>
    public async Task<ControllerResult> CreateTopicAsync(
        string name, int partitions, int replicationFactor, IReadOnlyDictionary<string, string> configs, int startIndex, CancellationToken cancellationToken) =>
        (await CreateTopicAsync(name, partitions, replicationFactor, null, configs, false, startIndex, cancellationToken).ConfigureAwait(false)).Result;

    /// <summary>
    /// Creates a topic of <paramref name="partitions"/> partitions of <paramref name="replicationFactor"/> replicas,
    /// or with the explicit <paramref name="assignment"/> (one replica list per partition, preferred leader first:
    /// distinct, registered brokers, every list as long); with <paramref name="validateOnly"/> checks without writing.
    /// Returns the outcome and, when Ok, the topic record (with its new id).
    /// </summary>
    public async Task<(ControllerResult Result, TopicRecord? Topic)> CreateTopicAsync(
        string name, int partitions, int replicationFactor, IReadOnlyList<IReadOnlyList<int>>? assignment, IReadOnlyDictionary<string, string> configs,
        bool validateOnly, int startIndex, CancellationToken cancellationToken)
    {
        var brokers = await _registrar.LiveBrokersAsync(cancellationToken).ConfigureAwait(false);
        int[][] replicas;
        if (assignment is not null)
        {
            if (!ValidAssignment(assignment, brokers, -1))
            {
                return (ControllerResult.InvalidReplicaAssignment, null);
            }

            replicas = new int[assignment.Count][];
            for (var p = 0; p < replicas.Length; p++)
            {
                replicas[p] = [.. assignment[p]];
            }
        }
        else
        {
            if (partitions < 1)
            {
                return (ControllerResult.InvalidPartitions, null);
            }

            if (replicationFactor < 1 || replicationFactor > brokers.Count)
            {
                return (ControllerResult.InvalidReplicationFactor, null);
            }

            replicas = ReplicaAssigner.Assign([.. brokers.Keys], partitions, replicationFactor, startIndex);
        }

        var topic = new TopicRecord(name, Guid.NewGuid(), replicas.Length, replicas[0].Length, configs);
        if (validateOnly)
        {
            return (await store.GetAsync(keys.Topic(name), cancellationToken).ConfigureAwait(false) is null ? ControllerResult.Ok : ControllerResult.TopicExists, topic);
        }

        var ops = new List<StoreOp>(replicas.Length + 1) { new StoreOp.Put(keys.Topic(name), ClusterJson.Encode(topic)) };
        for (var p = 0; p < replicas.Length; p++)
        {
            var state = new PartitionState(name, p, replicas[p][0], 0, replicas[p], replicas[p], 0);
            ops.Add(new StoreOp.Put(keys.Partition(name, p), ClusterJson.Encode(state)));
        }

        var result = await store.TxnAsync(
            [election.Fence(epoch), StoreCompare.Absent(keys.Topic(name))], ops, [], cancellationToken).ConfigureAwait(false);
        if (result.Succeeded)
        {
            return (ControllerResult.Ok, topic);
        }

        return (await IsCurrentAsync(cancellationToken).ConfigureAwait(false) ? ControllerResult.TopicExists : ControllerResult.Fenced, null);
    }

    /// <summary>
    /// Raises a topic's partition count to <paramref name="total"/>: the new partitions get replicas (from
    /// <paramref name="assignment"/>, one list per new partition, or assigned as at creation with the topic's
    /// replication factor), and the grown topic record and the new partitions' first states are written in one
    /// transaction fenced on the controller epoch and on the topic record's revision (so two raises cannot both apply).
    /// </summary>
    public async Task<ControllerResult> CreatePartitionsAsync(
        string name, int total, IReadOnlyList<IReadOnlyList<int>>? assignment, bool validateOnly, int startIndex, CancellationToken cancellationToken)
    {
        var kv = await store.GetAsync(keys.Topic(name), cancellationToken).ConfigureAwait(false);
        if (kv is null || ClusterJson.Decode<TopicRecord>(kv.Value) is not { } topic)
        {
            return ControllerResult.UnknownTopic;
        }

        var current = topic.Partitions;
        if (total <= current)
        {
            return ControllerResult.InvalidPartitions;
        }

        var brokers = await _registrar.LiveBrokersAsync(cancellationToken).ConfigureAwait(false);
        var added = new int[total - current][];
        if (assignment is not null)
        {
            if (assignment.Count != added.Length || !ValidAssignment(assignment, brokers, topic.ReplicationFactor))
            {
                return ControllerResult.InvalidReplicaAssignment;
            }

            for (var i = 0; i < added.Length; i++)
            {
                added[i] = [.. assignment[i]];
            }
        }
        else
        {
            if (topic.ReplicationFactor > brokers.Count)
            {
                return ControllerResult.InvalidReplicationFactor;
            }

            var all = ReplicaAssigner.Assign([.. brokers.Keys], total, topic.ReplicationFactor, startIndex);
            Array.Copy(all, current, added, 0, added.Length);
        }

        if (validateOnly)
        {
            return ControllerResult.Ok;
        }

        var compares = new List<StoreCompare>(added.Length + 2) { election.Fence(epoch), StoreCompare.ModifiedAt(kv.Key, kv.ModRevision) };
        var ops = new List<StoreOp>(added.Length + 1) { new StoreOp.Put(kv.Key, ClusterJson.Encode(topic with { Partitions = total })) };
        for (var i = 0; i < added.Length; i++)
        {
            var p = current + i;
            compares.Add(StoreCompare.Absent(keys.Partition(name, p)));
            ops.Add(new StoreOp.Put(keys.Partition(name, p), ClusterJson.Encode(new PartitionState(name, p, added[i][0], 0, added[i], added[i], 0))));
        }

        var result = await store.TxnAsync(compares, ops, [], cancellationToken).ConfigureAwait(false);
        if (result.Succeeded)
        {
            return ControllerResult.Ok;
        }

        // Deposed, or the topic changed under us (deleted, or raised by a request that won the race).
        return ControllerResult.Fenced;
    }

    private static bool ValidAssignment(IReadOnlyList<IReadOnlyList<int>> assignment, SortedDictionary<int, BrokerRegistration> brokers, int length)
    {
        if (assignment.Count == 0)
        {
            return false;
        }

        var expected = length > 0 ? length : assignment[0].Count;
        var seen = new HashSet<int>();
        foreach (var replicas in assignment)
        {
            if (replicas.Count == 0 || replicas.Count != expected)
            {
                return false;
            }

            seen.Clear();
            foreach (var id in replicas)
            {
                if (!brokers.ContainsKey(id) || !seen.Add(id))
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>
    /// Creates <c>__consumer_offsets</c> when it does not exist: <paramref name="partitions"/> partitions of
    /// min(<paramref name="replicationFactor"/>, registered brokers) replicas. Returns whether it exists now.
    /// </summary>
    public async Task<bool> EnsureOffsetsTopicAsync(int partitions, int replicationFactor, CancellationToken cancellationToken)
    {
        if (await store.GetAsync(keys.Topic(GroupCoordinatorMap.OffsetsTopic), cancellationToken).ConfigureAwait(false) is not null)
        {
            return true;
        }

        var brokers = await _registrar.LiveBrokersAsync(cancellationToken).ConfigureAwait(false);
        if (brokers.Count == 0)
        {
            return false;
        }

        var (result, _) = await CreateTopicAsync(
            GroupCoordinatorMap.OffsetsTopic, partitions, Math.Min(replicationFactor, brokers.Count), null, new Dictionary<string, string>(StringComparer.Ordinal),
            false, Random.Shared.Next(1024), cancellationToken).ConfigureAwait(false);
        return result is ControllerResult.Ok or ControllerResult.TopicExists;
    }

    /// <summary>Deletes a topic's record and partition states in one fenced transaction.</summary>
    public async Task<ControllerResult> DeleteTopicAsync(string name, CancellationToken cancellationToken)
    {
        var existing = await store.GetAsync(keys.Topic(name), cancellationToken).ConfigureAwait(false);
        if (existing is null)
        {
            return ControllerResult.UnknownTopic;
        }

        var ok = await election.FencedWriteAsync(
            epoch,
            [StoreCompare.ModifiedAt(keys.Topic(name), existing.ModRevision)],
            [new StoreOp.Delete(keys.Topic(name)), new StoreOp.DeletePrefix(keys.TopicPartitions(name))],
            cancellationToken).ConfigureAwait(false);
        return ok ? ControllerResult.Ok : ControllerResult.Fenced;
    }

    /// <summary>
    /// Reacts to brokers that are no longer registered: every partition whose leader is gone gets a new leader
    /// from its ISR (the first live ISR member in replica order; outside the ISR only with unclean election,
    /// else leader -1: offline), and gone brokers leave the ISR (never emptying it: the last member stays, as
    /// Kafka keeps it, so that it can lead again when it returns with the data). Each changed partition is
    /// one transaction fenced on the controller epoch and the partition key's revision.
    /// Returns the number of partitions changed, or -1 when fenced.
    /// </summary>
    public async Task<int> HandleBrokerChangesAsync(CancellationToken cancellationToken)
    {
        var live = await _registrar.LiveBrokersAsync(cancellationToken).ConfigureAwait(false);
        var range = await store.RangeAsync(keys.PartitionsPrefix, cancellationToken).ConfigureAwait(false);
        var changed = 0;
        foreach (var kv in range.Items)
        {
            if (ClusterJson.DecodePartition(kv.Value) is not { } state)
            {
                continue;
            }

            var next = PartitionLeaderElection.OnBrokersChanged(state, live.ContainsKey, uncleanLeaderElection);
            if (next is null)
            {
                continue;
            }

            var ok = await election.FencedWriteAsync(
                epoch, [StoreCompare.ModifiedAt(kv.Key, kv.ModRevision)], [new StoreOp.Put(kv.Key, ClusterJson.Encode(next))], cancellationToken)
                .ConfigureAwait(false);
            if (!ok)
            {
                // Either deposed (stop) or the leader changed the ISR meanwhile (the next pass re-reads it).
                if (!await IsCurrentAsync(cancellationToken).ConfigureAwait(false))
                {
                    return -1;
                }

                continue;
            }

            changed++;
        }

        return changed;
    }

    private async Task<bool> IsCurrentAsync(CancellationToken cancellationToken) =>
        (await election.CurrentAsync(cancellationToken).ConfigureAwait(false))?.Epoch == epoch;
}
