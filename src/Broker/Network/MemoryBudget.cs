namespace LogBroker.Broker.Network;

/// <summary>
/// The broker-wide budget of request bytes held at once (Kafka's <c>queued.max.request.bytes</c>): a
/// connection reserves a frame's size once the frame has arrived whole, before it is copied out and
/// processed, and the reservation is returned when the request's response has been sent. A read loop that cannot reserve
/// stops reading (TCP back-pressure) until bytes come back; waiters are served first come, first served,
/// so a large request is not starved by small ones.
/// </summary>
/// <remarks>Thread-safe. A request larger than the whole budget reserves the whole budget (it then runs alone).</remarks>
internal sealed class MemoryBudget(long capacity)
{
    private readonly Lock _sync = new();
    private readonly LinkedList<(long Bytes, TaskCompletionSource Ready)> _waiters = [];
    private long _available = capacity;

    public long Capacity { get; } = capacity;

    /// <summary>Bytes not reserved now.</summary>
    public long Available
    {
        get
        {
            lock (_sync)
            {
                return _available;
            }
        }
    }

    /// <summary>Clamps a request to what the budget can ever give.</summary>
    public long Clamp(long bytes) => Math.Min(bytes, Capacity);

    /// <summary>Reserves <paramref name="bytes"/> (already clamped) if no one is waiting and they are free.</summary>
    public bool TryReserve(long bytes)
    {
        lock (_sync)
        {
            if (_waiters.Count == 0 && _available >= bytes)
            {
                _available -= bytes;
                return true;
            }

            return false;
        }
    }

    /// <summary>Waits until <paramref name="bytes"/> (already clamped) are reserved.</summary>
    public async Task ReserveAsync(long bytes, CancellationToken cancellationToken)
    {
        LinkedListNode<(long, TaskCompletionSource)> node;
        lock (_sync)
        {
            if (_waiters.Count == 0 && _available >= bytes)
            {
                _available -= bytes;
                return;
            }

            node = _waiters.AddLast((bytes, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)));
        }

        try
        {
            await node.Value.Item2.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            lock (_sync)
            {
                if (node.List is not null)
                {
                    _waiters.Remove(node);
                    ServeWaiters();
                    throw;
                }
            }

            // Granted just as we gave up: give it back.
            Release(bytes);
            throw;
        }
    }

    public void Release(long bytes)
    {
        lock (_sync)
        {
            _available += bytes;
            ServeWaiters();
        }
    }

    private void ServeWaiters()
    {
        while (_waiters.First is { } first && _available >= first.Value.Bytes)
        {
            _available -= first.Value.Bytes;
            _waiters.RemoveFirst();
            first.Value.Ready.TrySetResult();
        }
    }
}
