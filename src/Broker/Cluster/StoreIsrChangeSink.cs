using LogBroker.Broker.Replication;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// AlterPartition through the store: the leader itself writes its partition's new ISR with a compare-and-set on
/// the partition key's revision, after checking that the recorded state is still the one it holds (same leader,
/// leader epoch and partition epoch) and that it still leads. Only registered brokers may join the ISR
/// (KIP-903: a replica of a broker that is gone or came back under a newer registration is not added on the
/// strength of fetches made before).
/// </summary>
public sealed class StoreIsrChangeSink(IControllerStore store, ClusterKeys keys, int localBrokerId) : IIsrChangeSink
{
    /// <inheritdoc/>
    public async Task<PartitionState?> AlterIsrAsync(PartitionState current, IReadOnlyList<int> newIsr, CancellationToken cancellationToken)
    {
        if (current.Leader != localBrokerId || newIsr.Count == 0 || !Contains(newIsr, localBrokerId))
        {
            return null;
        }

        foreach (var id in newIsr)
        {
            if (!Contains(current.Replicas, id))
            {
                return null;
            }
        }

        var key = keys.Partition(current.Topic, current.Partition);
        var kv = await store.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (kv is null || ClusterJson.DecodePartition(kv.Value) is not { } recorded
            || recorded.Leader != localBrokerId
            || recorded.LeaderEpoch != current.LeaderEpoch
            || recorded.PartitionEpoch != current.PartitionEpoch)
        {
            return null;
        }

        var compares = new List<StoreCompare> { StoreCompare.ModifiedAt(key, kv.ModRevision) };
        foreach (var id in newIsr)
        {
            if (!Contains(recorded.Isr, id))
            {
                // The joiner must be registered now, and still be when the write lands.
                var registration = await store.GetAsync(keys.Broker(id), cancellationToken).ConfigureAwait(false);
                if (registration is null)
                {
                    return null;
                }

                compares.Add(StoreCompare.CreatedAt(keys.Broker(id), registration.CreateRevision));
            }
        }

        // The leader itself must still be registered: a leader whose lease expired is being replaced.
        var self = await store.GetAsync(keys.Broker(localBrokerId), cancellationToken).ConfigureAwait(false);
        if (self is null)
        {
            return null;
        }

        compares.Add(StoreCompare.CreatedAt(keys.Broker(localBrokerId), self.CreateRevision));
        var next = recorded with { Isr = [.. newIsr], PartitionEpoch = recorded.PartitionEpoch + 1 };
        var result = await store.TxnAsync(compares, [new StoreOp.Put(key, ClusterJson.Encode(next))], [], cancellationToken).ConfigureAwait(false);
        return result.Succeeded ? next : null;
    }

    private static bool Contains(IReadOnlyList<int> list, int id)
    {
        foreach (var x in list)
        {
            if (x == id)
            {
                return true;
            }
        }

        return false;
    }
}
