using System.Collections.Concurrent;
using LogBroker.Storage;

namespace LogBroker.Broker.Producers;

/// <summary>The <see cref="ProducerStateTable"/> of every partition, built on first use.</summary>
internal sealed class ProducerStates
{
    private readonly ConcurrentDictionary<PartitionLog, Lazy<ProducerStateTable>> _tables = new();

    public ProducerStateTable For(PartitionLog log) =>
        _tables.GetOrAdd(log, static l => new Lazy<ProducerStateTable>(() => ProducerStateTable.Rebuild(l))).Value;

    /// <summary>Forgets a deleted partition's state.</summary>
    public void Forget(PartitionLog log) => _tables.TryRemove(log, out _);
}
