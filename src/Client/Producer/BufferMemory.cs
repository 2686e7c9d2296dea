namespace LogBroker.Client.Producer;

/// <summary>
/// buffer.memory: the bytes of records produced and not yet acknowledged. A reservation beyond the limit
/// fails (<see cref="TryReserve"/>) or waits for a release (<see cref="ReserveAsync"/>); the first
/// reservation always succeeds, so a record larger than the limit cannot wait for ever.
/// </summary>
internal sealed class BufferMemory(long limit) : IDisposable
{
    private readonly SemaphoreSlim _freed = new(0);
    private long _used;
    private int _waiters;
    private volatile bool _closed;

    public long Limit => limit;

    public long Used => Interlocked.Read(ref _used);

    public bool TryReserve(int bytes)
    {
        while (true)
        {
            long current = Interlocked.Read(ref _used);
            if (current > 0 && current + bytes > limit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _used, current + bytes, current) == current)
            {
                return true;
            }
        }
    }

    /// <summary>Waits until <paramref name="bytes"/> fit; throws <see cref="ObjectDisposedException"/> once closed.</summary>
    public async ValueTask ReserveAsync(int bytes, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waiters);
        try
        {
            while (!TryReserve(bytes))
            {
                ObjectDisposedException.ThrowIf(_closed, this);
                // The timeout is a backstop only: Release wakes each waiter.
                await _freed.WaitAsync(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiters);
        }
    }

    public void Release(long bytes)
    {
        Interlocked.Add(ref _used, -bytes);
        // Wake each waiter once; releasing more would leave permits that turn later waits into spins.
        int missing = Volatile.Read(ref _waiters) - _freed.CurrentCount;
        if (missing > 0)
        {
            _freed.Release(missing);
        }
    }

    /// <summary>Waiters stop waiting and fail.</summary>
    public void Close()
    {
        _closed = true;
        Release(0);
    }

    public void Dispose() => _freed.Dispose();
}
