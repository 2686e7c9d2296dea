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
}

/// <summary>
/// The controller's decisions, each recorded as one store transaction fenced on the controller epoch: topic
/// creation with replica assignment, topic deletion, and leader election from the ISR when a broker goes.
/// Holds no state of its own between calls (it re-reads the store), so a new controller picks up where a
/// deposed one stopped.
/// </summary>
public sealed partial class ClusterController(IControllerStore store, ClusterKeys keys, ControllerElection election, long epoch, bool uncleanLeaderElection)
{
    private readonly BrokerRegistrar _registrar = new(store, keys);

    /// <summary>The epoch this controller writes under.</summary>
    public long Epoch => epoch;

    /// <summary>
    /// Creates a topic: assigns replicas over the live brokers, writes the topic record and every partition's
    /// first state (leader = preferred replica, ISR = all replicas, epochs 0) in one fenced transaction.
    /// </summary>
    public async Task<ControllerResult> CreateTopicAsync(
        string name, int partitions, int replicationFactor, IReadOnlyDictionary<string, string> configs, int startIndex, CancellationToken cancellationToken)
    {
        var brokers = await _registrar.LiveBrokersAsync(cancellationToken).ConfigureAwait(false);
        if (replicationFactor < 1 || replicationFactor > brokers.Count)
        {
            return ControllerResult.InvalidReplicationFactor;
        }

        var assignment = ReplicaAssigner.Assign([.. brokers.Keys], partitions, replicationFactor, startIndex);
        var topic = new TopicRecord(name, Guid.NewGuid(), partitions, replicationFactor, configs);
        var ops = new List<StoreOp>(partitions + 1) { new StoreOp.Put(keys.Topic(name), ClusterJson.Encode(topic)) };
        for (var p = 0; p < partitions; p++)
        {
            var state = new PartitionState(name, p, assignment[p][0], 0, assignment[p], assignment[p], 0);
            ops.Add(new StoreOp.Put(keys.Partition(name, p), ClusterJson.Encode(state)));
        }

        var result = await store.TxnAsync(
            [election.Fence(epoch), StoreCompare.Absent(keys.Topic(name))], ops, [], cancellationToken).ConfigureAwait(false);
        if (result.Succeeded)
        {
            return ControllerResult.Ok;
        }

        return await IsCurrentAsync(cancellationToken).ConfigureAwait(false) ? ControllerResult.TopicExists : ControllerResult.Fenced;
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
