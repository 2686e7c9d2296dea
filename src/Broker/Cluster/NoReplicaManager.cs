using LogBroker.Broker.Replication;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// Stands in until the replication data plane registers its own <see cref="IReplicaManager"/> (registered with
/// TryAdd, so the real one wins whenever it is present): partition states are recorded and materialized, not
/// replicated.
/// </summary>
internal sealed class NoReplicaManager : IReplicaManager
{
    public void Apply(PartitionState state)
    {
    }

    public void Remove(string topic, int partition)
    {
    }
}
