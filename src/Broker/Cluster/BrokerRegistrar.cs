namespace LogBroker.Broker.Cluster;

/// <summary>
/// Registers this broker at <c>/brokers/{id}</c> under a lease: while the lease is kept alive the broker is a
/// member; when the process dies (or pauses past the TTL) etcd deletes the key and the controller sees the
/// broker gone. The registration's create revision is the broker epoch (KIP-903): a broker that comes back
/// gets a larger one, so state recorded for its previous incarnation is recognisably stale.
/// </summary>
public sealed class BrokerRegistrar(IControllerStore store, ClusterKeys keys)
{
    /// <summary>
    /// Creates the registration (refused when a live broker already holds the id: two processes with one id
    /// would corrupt each other's replicas). Returns the registration with its broker epoch, or null when refused.
    /// </summary>
    public async Task<BrokerRegistration?> RegisterAsync(BrokerRegistration registration, long lease, CancellationToken cancellationToken)
    {
        var key = keys.Broker(registration.Id);
        var result = await store.TxnAsync(
            [StoreCompare.Absent(key)],
            [new StoreOp.Put(key, ClusterJson.Encode(registration), lease)],
            [],
            cancellationToken).ConfigureAwait(false);
        return result.Succeeded ? registration with { BrokerEpoch = result.Revision } : null;
    }

    /// <summary>Every registered (live) broker, each with its broker epoch, by id.</summary>
    public async Task<SortedDictionary<int, BrokerRegistration>> LiveBrokersAsync(CancellationToken cancellationToken)
    {
        var range = await store.RangeAsync(keys.BrokersPrefix, cancellationToken).ConfigureAwait(false);
        var brokers = new SortedDictionary<int, BrokerRegistration>();
        foreach (var kv in range.Items)
        {
            if (ClusterJson.Decode<BrokerRegistration>(kv.Value) is { } broker && kv.Key == keys.Broker(broker.Id))
            {
                brokers[broker.Id] = broker with { BrokerEpoch = kv.CreateRevision };
            }
        }

        return brokers;
    }
}
