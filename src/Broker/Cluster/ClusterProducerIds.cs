namespace LogBroker.Broker.Cluster;

/// <summary>
/// Producer ids in cluster mode. An idempotent producer's batches are deduplicated by (producer id, epoch, sequence)
/// on every partition, so two producers holding the same id would have each other's batches taken for retries and
/// acknowledged without being written. Each broker therefore takes blocks of <see cref="BlockSize"/> ids from the
/// store's counter (<see cref="ClusterService.AllocateProducerIdBlockAsync"/>) and hands them out one by one; a block
/// is never reused, even across restarts (a restarted broker takes a new one), so no id is handed out twice.
/// </summary>
internal sealed class ClusterProducerIds(ClusterService cluster) : IDisposable
{
    /// <summary>Ids per block, as Kafka's controller hands them out.</summary>
    public const long BlockSize = 1000;

    private readonly SemaphoreSlim _refill = new(1, 1);
    private readonly Lock _sync = new();
    private long _next;
    private long _end; // the block is [_next, _end); empty at start

    /// <summary>A producer id no broker of the cluster handed out before, or null when no block could be taken now (retriable).</summary>
    public async ValueTask<long?> NextAsync(CancellationToken cancellationToken)
    {
        if (TryTake(out long id))
        {
            return id;
        }

        await _refill.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (TryTake(out id))
            {
                return id; // another caller refilled meanwhile
            }

            if (await cluster.AllocateProducerIdBlockAsync(BlockSize, cancellationToken).ConfigureAwait(false) is not { } first)
            {
                return null;
            }

            lock (_sync)
            {
                _next = first + 1;
                _end = first + BlockSize;
            }

            return first;
        }
        finally
        {
            _refill.Release();
        }
    }

    private bool TryTake(out long id)
    {
        lock (_sync)
        {
            id = _next;
            if (_next >= _end)
            {
                return false;
            }

            _next++;
            return true;
        }
    }

    public void Dispose() => _refill.Dispose();
}
