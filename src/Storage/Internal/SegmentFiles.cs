namespace LogBroker.Storage.Internal;

/// <summary>
/// The open files of one segment (log, offset index, time index): descriptors and mappings, each
/// made on first use. Persistently at most one descriptor (the log's, for its writer; index
/// descriptors only within <see cref="SegmentCache.IndexDescriptorBudget"/>) and up to three mappings. Reference counted: the <see cref="SegmentCache"/> (or the code that made a
/// transient one) holds one reference and every user a lease; the last release closes everything.
/// </summary>
/// <remarks>
/// A segment whose files were evicted keeps all its state in memory and opens a fresh
/// <see cref="SegmentFiles"/> on its next use; readers still holding the old one keep their mapping
/// until they release it.
/// </remarks>
internal sealed class SegmentFiles
{
    private int _references = 1;
    private int _used = 1;

    /// <param name="owner">The segment, or null for a transient set.</param>
    /// <param name="relief">The cache whose idle sets are closed when an open or a mapping of these
    /// files hits the process's limit (see <see cref="SegmentCache.Relieve"/>); null: none.</param>
    /// <param name="logPath">The log file.</param>
    /// <param name="logMapLength">Bytes its mapping covers.</param>
    /// <param name="indexPath">The offset index.</param>
    /// <param name="indexMapLength">Bytes its mapping covers.</param>
    /// <param name="timeIndexPath">The time index.</param>
    /// <param name="timeIndexMapLength">Bytes its mapping covers.</param>
    public SegmentFiles(LogSegment? owner, SegmentCache? relief, string logPath, int logMapLength, string indexPath, int indexMapLength,
        string timeIndexPath, int timeIndexMapLength)
    {
        Owner = owner;
        Log = new MappedFile(logPath, logMapLength, relief);
        Index = new MappedFile(indexPath, indexMapLength, relief, isIndex: true);
        TimeIndex = new MappedFile(timeIndexPath, timeIndexMapLength, relief, isIndex: true);
    }

    public MappedFile Log { get; }

    public MappedFile Index { get; }

    public MappedFile TimeIndex { get; }

    /// <summary>The segment whose files these are (null for a transient set used while loading).</summary>
    public LogSegment? Owner { get; }

    /// <summary>The cache holding the owner reference, and the slot there; guarded by the cache's lock.</summary>
    internal SegmentCache? Cache { get; set; }

    internal int Slot { get; set; } = -1;

    /// <summary>Only the owner reference is left: evicting now frees the files at once.</summary>
    internal bool IsIdle => Volatile.Read(ref _references) == 1;

    /// <summary>Reads and clears the used-since-last-sweep bit (the clock of <see cref="SegmentCache"/>).</summary>
    internal bool TakeUsed() => Interlocked.Exchange(ref _used, 0) == 1;

    /// <summary>Takes a lease; false once the files are closed.</summary>
    public bool TryAcquire()
    {
        while (true)
        {
            int current = Volatile.Read(ref _references);
            if (current == 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _references, current + 1, current) == current)
            {
                Volatile.Write(ref _used, 1);
                return true;
            }
        }
    }

    /// <summary>Gives a lease (or the owner reference) back; the last one closes the files.</summary>
    public void Release()
    {
        int remaining = Interlocked.Decrement(ref _references);
        if (remaining == 0)
        {
            Log.Close();
            Index.Close();
            TimeIndex.Close();
            Cache?.Closed();
        }
        else if (remaining < 0)
        {
            throw new InvalidOperationException($"Files of {Log.Path} released more often than acquired.");
        }
    }
}
