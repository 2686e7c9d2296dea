namespace LogBroker.Storage.Internal;

/// <summary>
/// Bounds the segments whose files are open (descriptors and mappings) across all partitions of a
/// data directory: at most <see cref="MaxOpen"/> <see cref="SegmentFiles"/> exist at once, each
/// costing at most three descriptors and three mappings. Least recently used ones are evicted
/// (a clock sweep: every lease sets a used bit, the sweep clears it and evicts a set left unused
/// since its last pass).
/// </summary>
/// <remarks>
/// Only a set nobody holds a lease on is evicted, so the bound is strict. When every open set is
/// leased (for example one fetch holding more partitions than the bound), opening one more throws
/// <see cref="StorageLimitException"/>: that one read or write fails with a storage error; nothing
/// else is affected. Thread-safety: all members may be called concurrently; leases on open sets
/// (<see cref="SegmentFiles.TryAcquire"/>) take no lock.
/// </remarks>
internal sealed class SegmentCache(int maxOpen)
{
    private readonly Lock _lock = new();
    private readonly List<SegmentFiles> _ring = [];
    private int _hand;
    private int _live;

    /// <summary>The cache of logs opened without a <see cref="LogManager"/> (tools and tests).</summary>
    public static SegmentCache Shared { get; } = new(StorageOptions.DefaultMaxOpenSegments);

    public int MaxOpen { get; } = maxOpen;

    /// <summary>Sets of files not yet closed (admitted and not yet fully released).</summary>
    public int Live => Volatile.Read(ref _live);

    /// <summary>
    /// Registers newly made <paramref name="files"/> (which the caller already holds a lease on),
    /// evicting an idle set first when the bound is reached.
    /// </summary>
    /// <exception cref="StorageLimitException">The bound is reached and every open set is in use.</exception>
    public void Admit(SegmentFiles files)
    {
        lock (_lock)
        {
            for (int step = 0, steps = (2 * _ring.Count) + 1; Volatile.Read(ref _live) >= MaxOpen && step < steps && _ring.Count > 0; step++)
            {
                if (_hand >= _ring.Count)
                {
                    _hand = 0;
                }

                SegmentFiles candidate = _ring[_hand];
                if (candidate.TakeUsed() || !candidate.IsIdle)
                {
                    _hand++;
                    continue;
                }

                RemoveAt(_hand);
                candidate.Owner?.Detach(candidate);
                candidate.Release(); // the owner reference: closes it now (or when a racing lease ends)
            }

            if (Volatile.Read(ref _live) >= MaxOpen)
            {
                throw new StorageLimitException(
                    $"All {MaxOpen} open segments (Storage:MaxOpenSegments) are in use; {files.Log.Path} cannot be opened now.");
            }

            files.Cache = this;
            files.Slot = _ring.Count;
            _ring.Add(files);
            Interlocked.Increment(ref _live);
        }
    }

    /// <summary>Takes <paramref name="files"/> out of the cache; true when it was there (the caller then drops the owner reference).</summary>
    public bool Remove(SegmentFiles files)
    {
        lock (_lock)
        {
            if (files.Cache != this || files.Slot < 0)
            {
                return false;
            }

            RemoveAt(files.Slot);
            return true;
        }
    }

    /// <summary>Called by <see cref="SegmentFiles.Release"/> when a set admitted here is closed.</summary>
    internal void Closed() => Interlocked.Decrement(ref _live);

    private void RemoveAt(int index)
    {
        SegmentFiles removed = _ring[index];
        SegmentFiles last = _ring[^1];
        _ring[index] = last;
        last.Slot = index;
        _ring.RemoveAt(_ring.Count - 1);
        removed.Slot = -1;
    }
}
