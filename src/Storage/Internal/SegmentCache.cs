namespace LogBroker.Storage.Internal;

/// <summary>
/// Bounds the segments whose files are open (descriptors and mappings) across all partitions of a
/// data directory: at most <see cref="MaxOpen"/> <see cref="SegmentFiles"/> exist at once, each
/// holding at most one descriptor for long (its log's, while it is written; index descriptors only
/// within <see cref="IndexDescriptorBudget"/>) and at most three mappings (only while read). Least
/// recently used ones are evicted (a clock sweep: every lease sets a used bit, the sweep clears it
/// and evicts a set left unused since its last pass).
/// </summary>
/// <remarks>
/// Only a set nobody holds a lease on is evicted, so the bound is strict. When every open set is
/// leased (for example one fetch holding more partitions than the bound), opening one more throws
/// <see cref="StorageLimitException"/>: that one read or write fails with a storage error; nothing
/// else is affected. Thread-safety: all members may be called concurrently; leases on open sets
/// (<see cref="SegmentFiles.TryAcquire"/>) take no lock.
/// </remarks>
internal sealed class SegmentCache(int maxOpen, int indexDescriptorBudget = 0)
{
    private readonly Lock _lock = new();
    private readonly List<SegmentFiles> _ring = [];
    private int _hand;
    private int _live;

    /// <summary>The cache of logs opened without a <see cref="LogManager"/> (tools and tests).</summary>
    public static SegmentCache Shared { get; } = Create(StorageOptions.DefaultMaxOpenSegments, Posix.OpenFileLimit(), Posix.MaxMapCount());

    /// <summary>Mappings one open set may hold (log, offset index, time index).</summary>
    public const int FilesPerSegment = 3;

    /// <summary>Descriptors one open set holds for long (its log's); index descriptors are counted apart.</summary>
    public const int DescriptorsPerSegment = 1;

    private int _indexDescriptors;

    /// <summary>The smallest bound <see cref="SizeFor"/> returns.</summary>
    public const int MinOpen = 16;

    private long _reliefs;

    public int MaxOpen { get; } = maxOpen;

    /// <summary>
    /// Index descriptors the writers may keep open between appends, over all sets: the descriptors
    /// left once every open set holds its log's. Past it a writer closes an index's descriptor
    /// after writing its entry (an open and a close per index entry, one per
    /// <c>index.interval.bytes</c> of log) instead of holding it.
    /// </summary>
    public int IndexDescriptorBudget { get; } = indexDescriptorBudget;

    /// <summary>Index descriptors open now.</summary>
    public int IndexDescriptors => Volatile.Read(ref _indexDescriptors);

    /// <summary>True when the writers hold more index descriptors than <see cref="IndexDescriptorBudget"/>.</summary>
    public bool IndexDescriptorsOverBudget => Volatile.Read(ref _indexDescriptors) > IndexDescriptorBudget;

    internal void IndexDescriptorOpened() => Interlocked.Increment(ref _indexDescriptors);

    internal void IndexDescriptorClosed() => Interlocked.Decrement(ref _indexDescriptors);

    /// <summary>A cache sized by <see cref="SizeFor"/>, with the index descriptors left over by <see cref="DescriptorBudget"/>.</summary>
    public static SegmentCache Create(int configured, long? openFileLimit, long? maxMapCount)
    {
        int bound = SizeFor(configured, openFileLimit, maxMapCount);
        long spare = DescriptorBudget(openFileLimit) - ((long)bound * DescriptorsPerSegment);
        return new SegmentCache(bound, (int)Math.Clamp(spare, 0, int.MaxValue));
    }

    /// <summary>
    /// Descriptors the segments may use under <paramref name="openFileLimit"/>: the rest of the
    /// process (connections, the runtime, the metadata and offset logs, checkpoints) keeps a quarter,
    /// at least 256. Unknown limit: 3 per <see cref="StorageOptions.DefaultMaxOpenSegments"/>.
    /// </summary>
    public static long DescriptorBudget(long? openFileLimit) =>
        openFileLimit is { } files ? Math.Max(0, files - Math.Max(256, files / 4)) : 3L * StorageOptions.DefaultMaxOpenSegments;

    /// <summary>Faults injected into the files of this cache's segments (tests only; see <see cref="StorageFaults"/>).</summary>
    public StorageFaults Faults { get; } = new();

    /// <summary>How often <see cref="Relieve"/> ran (an open or a mapping hit a process limit).</summary>
    public long Reliefs => Interlocked.Read(ref _reliefs);

    /// <summary>
    /// The bound to use for <paramref name="configured"/> open sets under the process's limits: every
    /// open set holds <see cref="DescriptorsPerSegment"/> descriptor and up to <see cref="FilesPerSegment"/>
    /// mappings, and the rest of the process (connections, the runtime, the metadata and offset logs,
    /// checkpoints) keeps a quarter of each limit — at least 256 descriptors and 4,096 mappings. Never below
    /// <see cref="MinOpen"/>. A process that runs out of descriptors can fail anywhere (the .NET
    /// runtime itself stops with "Out of memory." when it cannot get one), so the bound must hold
    /// below the limit, not at it.
    /// </summary>
    /// <param name="configured">The configured bound (<see cref="StorageOptions.MaxOpenSegments"/>).</param>
    /// <param name="openFileLimit">RLIMIT_NOFILE of the process, null when unknown or unlimited.</param>
    /// <param name="maxMapCount">vm.max_map_count, null when unknown.</param>
    public static int SizeFor(int configured, long? openFileLimit, long? maxMapCount)
    {
        long bound = configured;
        if (openFileLimit is { } files)
        {
            bound = Math.Min(bound, DescriptorBudget(files) / DescriptorsPerSegment);
        }

        if (maxMapCount is { } maps)
        {
            bound = Math.Min(bound, (maps - Math.Max(4096, maps / 4)) / FilesPerSegment);
        }

        return (int)Math.Max(MinOpen, bound);
    }

    /// <summary>
    /// Closes up to an eighth (at least one) of the open sets that nobody holds a lease on, used or
    /// not: called when opening or mapping a file hit the process's descriptor or mapping limit
    /// (EMFILE, ENFILE, ENOMEM), which other users of descriptors (connections) can reach below this
    /// cache's bound. Returns how many were closed; 0 when every open set is in use.
    /// </summary>
    public int Relieve()
    {
        int closed = 0;
        lock (_lock)
        {
            _reliefs++;
            int wanted = Math.Max(1, _ring.Count / 8);
            for (int step = 0, steps = _ring.Count; step < steps && closed < wanted && _ring.Count > 0; step++)
            {
                if (_hand >= _ring.Count)
                {
                    _hand = 0;
                }

                SegmentFiles candidate = _ring[_hand];
                if (!candidate.IsIdle)
                {
                    _hand++;
                    continue;
                }

                RemoveAt(_hand);
                candidate.Owner?.Detach(candidate);
                candidate.Release();
                closed++;
            }
        }

        return closed;
    }

    /// <summary>Sets of files not yet closed (admitted and not yet fully released).</summary>
    public int Live => Volatile.Read(ref _live);

    /// <summary>
    /// Registers newly made <paramref name="files"/> (which the caller already holds a lease on),
    /// evicting an idle set first when the bound is reached.
    /// </summary>
    /// <exception cref="StorageLimitException">The bound is reached and every open set is in use.</exception>
    public void Admit(SegmentFiles files)
    {
        if (!TryAdmit(files))
        {
            throw new StorageLimitException(
                $"All {MaxOpen} open segments (Storage:MaxOpenSegments) are in use; {files.Log.Path} cannot be opened now.");
        }
    }

    /// <summary><see cref="Admit"/> that returns false instead of throwing when every open set is in use.</summary>
    public bool TryAdmit(SegmentFiles files)
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
                return false;
            }

            files.Cache = this;
            files.Slot = _ring.Count;
            _ring.Add(files);
            Interlocked.Increment(ref _live);
            return true;
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
