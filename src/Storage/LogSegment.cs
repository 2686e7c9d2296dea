using LogBroker.Storage.Indexes;
using LogBroker.Storage.Internal;

namespace LogBroker.Storage;

/// <summary>
/// One segment of a partition: <c>&lt;20-digit base offset&gt;.log</c> with its <c>.index</c> and
/// <c>.timeindex</c>.
/// </summary>
/// <remarks>
/// <para>Format: the <c>.log</c> holds record batches v2 back to back, byte for byte as produced
/// except for the broker-owned base offset and partition leader epoch, and exactly as fetched. Files
/// are as long as their contents: nothing is preallocated, the log and both indexes grow by
/// pwrite(2). A file may only be longer than its valid contents after a crash (a torn tail) or a
/// truncation (a zeroed tail); the next open cuts it.</para>
/// <para>What is open when: this object keeps the segment's state in memory (size, next offset,
/// max timestamp, index entry counts) and holds no descriptor or mapping by itself. Every use takes
/// a lease on the segment's <see cref="SegmentFiles"/> (<see cref="Acquire"/>), made on demand and
/// bounded by the data directory's <see cref="SegmentCache"/>; inside it each file is opened on
/// first use and mapped (read-only) on first read. The writer only opens the log; indexes are
/// opened when an entry is written or looked up, so an idle or write-only partition costs no mapping
/// and an evicted one no descriptor.</para>
/// <para>No store ever goes through a mapping (C5): appends, index entries and truncation zeroes are
/// pwrite(2), so a full disk is an <see cref="IOException"/> from the call, never SIGBUS. Files are
/// never shrunk while this process may have them mapped: a sealed or truncated log keeps at least
/// its largest published size until the next open (L1).</para>
/// <para>Thread-safety: one writer at a time (the partition's append lock) calls
/// <see cref="Append"/>, <see cref="Seal"/>, <see cref="TruncateTo"/>; any number of readers may call
/// the lookup and read methods concurrently, each with a lease. Size, next offset and index entry
/// counts are published with volatile writes after the bytes they cover.</para>
/// <para>Lifetime: <see cref="Delete"/> unlinks the files and refuses new leases; readers still
/// holding one keep their mapping until they release it, so a roll, retention delete or close never
/// unmaps memory a reader still uses.</para>
/// </remarks>
internal sealed partial class LogSegment
{
    private readonly string _directory;
    private readonly LogConfig _config;
    private readonly SegmentCache _cache;
    private readonly Lock _openLock = new();
    private readonly OffsetIndex _index;
    private readonly TimeIndex _timeIndex;
    private SegmentFiles? _files;
    private int _capacity;
    private int _size;
    private int _largestSize;
    private long _logFileLength;
    private long _nextOffset;
    private long _maxTimestamp = -1;
    private long _offsetOfMaxTimestamp = -1;
    private int _bytesSinceIndexEntry;
    private bool _deleted;
    private bool _logExists;
    private bool _indexExists;
    private bool _timeIndexExists;
    private int _createdFiles;
    private bool _indexingStopped;
    private IOException? _indexFailure;

    private LogSegment(string directory, long baseOffset, int capacity, OffsetIndex index, TimeIndex timeIndex,
        LogConfig config, SegmentCache cache, long createdTimestamp, bool sealed_)
    {
        _directory = directory;
        BaseOffset = baseOffset;
        _capacity = capacity;
        _index = index;
        _timeIndex = timeIndex;
        _config = config;
        _cache = cache;
        _nextOffset = baseOffset;
        CreatedTimestamp = createdTimestamp;
        IsSealed = sealed_;
    }

    public long BaseOffset { get; }

    /// <summary>Bytes of valid batches.</summary>
    public int Size => Volatile.Read(ref _size);

    /// <summary>The offset after the last batch; <see cref="BaseOffset"/> when empty.</summary>
    public long NextOffset => Volatile.Read(ref _nextOffset);

    /// <summary>Greatest batch max timestamp in the segment, -1 when empty.</summary>
    public long MaxTimestamp => Volatile.Read(ref _maxTimestamp);

    /// <summary>Base offset of the batch holding <see cref="MaxTimestamp"/>, -1 when empty.</summary>
    public long OffsetOfMaxTimestamp => Volatile.Read(ref _offsetOfMaxTimestamp);

    /// <summary><see cref="TimeProvider.GetTimestamp"/> when the segment was created or opened (for segment.ms).</summary>
    public long CreatedTimestamp { get; }

    public bool IsSealed { get; private set; }

    /// <summary>The most bytes of batches the segment takes (segment.bytes, or one larger batch).</summary>
    public int Capacity => _capacity;

    public bool IsEmpty => Size == 0;

    public static string FileStem(long baseOffset) => baseOffset.ToString("D20", System.Globalization.CultureInfo.InvariantCulture);

    public static string LogPath(string directory, long baseOffset) => Path.Combine(directory, FileStem(baseOffset) + ".log");

    private static string IndexPath(string directory, long baseOffset) => Path.Combine(directory, FileStem(baseOffset) + ".index");

    private static string TimeIndexPath(string directory, long baseOffset) => Path.Combine(directory, FileStem(baseOffset) + ".timeindex");

    /// <summary>
    /// A new, empty, active segment that can take <paramref name="capacity"/> bytes. No file is made
    /// yet: the log appears with the first append, each index with its first entry.
    /// </summary>
    public static LogSegment Create(string directory, long baseOffset, int capacity, LogConfig config, SegmentCache cache, long now)
    {
        // A leftover index from a segment deleted at the same base offset must not be reused.
        File.Delete(IndexPath(directory, baseOffset));
        File.Delete(TimeIndexPath(directory, baseOffset));
        var index = new OffsetIndex(IndexPath(directory, baseOffset), config.SegmentIndexBytes, 0);
        var timeIndex = new TimeIndex(TimeIndexPath(directory, baseOffset), config.SegmentIndexBytes, 0);
        return new LogSegment(directory, baseOffset, capacity, index, timeIndex, config, cache, now, sealed_: false);
    }

    /// <summary>An empty, closed segment standing in for a partition whose load failed; touches no file.</summary>
    public static LogSegment Placeholder(string directory, long baseOffset, LogConfig config, SegmentCache cache, long now)
    {
        var index = new OffsetIndex(IndexPath(directory, baseOffset), config.SegmentIndexBytes, 0);
        var timeIndex = new TimeIndex(TimeIndexPath(directory, baseOffset), config.SegmentIndexBytes, 0);
        var segment = new LogSegment(directory, baseOffset, config.SegmentBytes, index, timeIndex, config, cache, now, sealed_: false);
        segment.Retire();
        return segment;
    }

    /// <summary>
    /// Opens an existing segment. <paramref name="active"/> makes it the one appended to (capacity
    /// at least <c>segment.bytes</c>); otherwise it stays sealed.
    /// <paramref name="recover"/> scans every batch (length, magic, CRC, offsets), truncates at the
    /// first bad one and rebuilds both indexes; otherwise the indexes are sanity-checked, only the
    /// tail after the last index entry is walked, and a bad index is rebuilt.
    /// <paramref name="truncatedBytes"/> says how many bytes past the last valid batch were discarded
    /// and <paramref name="damaged"/> whether they held data (rather than zeros). The files are read
    /// through a transient set of descriptors, closed before returning.
    /// </summary>
    public static LogSegment Open(string directory, long baseOffset, LogConfig config, SegmentCache cache, bool active, bool recover,
        long now, out int truncatedBytes, out bool damaged)
    {
        string logPath = LogPath(directory, baseOffset);
        long fileLength = new FileInfo(logPath).Length;
        if (fileLength > int.MaxValue)
        {
            throw new IOException($"{logPath} is larger than 2 GiB.");
        }

        int extent = (int)fileLength;
        var indexInfo = new FileInfo(IndexPath(directory, baseOffset));
        var timeIndexInfo = new FileInfo(TimeIndexPath(directory, baseOffset));
        bool haveIndexes = indexInfo.Exists && timeIndexInfo.Exists;
        var index = new OffsetIndex(indexInfo.FullName, config.SegmentIndexBytes, haveIndexes ? indexInfo.Length : 0);
        var timeIndex = new TimeIndex(timeIndexInfo.FullName, config.SegmentIndexBytes, haveIndexes ? timeIndexInfo.Length : 0);
        int capacity = active ? Math.Max(config.SegmentBytes, extent) : extent;
        var segment = new LogSegment(directory, baseOffset, capacity, index, timeIndex, config, cache, now, sealed_: !active)
        {
            _logExists = true,
            _indexExists = indexInfo.Exists,
            _timeIndexExists = timeIndexInfo.Exists,
        };

        var files = new SegmentFiles(null, cache, logPath, extent, index.Path, index.BytesFor(index.Entries),
            timeIndex.Path, timeIndex.BytesFor(timeIndex.Entries));
        try
        {
            // No index files and too little log to need an entry: nothing to rebuild, the trusted walk covers it.
            bool indexesNeeded = !haveIndexes && (indexInfo.Exists || timeIndexInfo.Exists || extent > config.IndexIntervalBytes);
            if (recover || indexesNeeded || !segment.TryLoadFromIndexes(files, extent))
            {
                segment.RebuildAtOpen(files, extent);
            }

            truncatedBytes = extent - segment.Size;
            damaged = false;
            if (truncatedBytes > 0)
            {
                // A zero tail (preallocated by an older version, or zeroed by a truncation) is not
                // damage; a torn or corrupt batch is. Looking at the first MiB past the end tells
                // them apart without reading a whole sparse tail.
                damaged = files.Log.GetSpan().Slice(segment.Size, Math.Min(truncatedBytes, 1 << 20)).IndexOfAnyExcept((byte)0) >= 0;
                segment.DiscardTail(files);
            }

            segment._largestSize = segment._size;
            segment._logFileLength = truncatedBytes > 0 ? segment._size : extent;
            segment._indexFailure = null; // a rebuild that ran out of space only left the index shorter
            return segment;
        }
        finally
        {
            files.Release();
        }
    }

    /// <summary>
    /// A lease on the segment's open files, opening them (within the cache's bound) if they are
    /// not; null when the segment was deleted. Release it when done.
    /// </summary>
    /// <exception cref="StorageLimitException">Every open segment of the data directory is in use.</exception>
    public SegmentFiles? Acquire() => AcquireCore(throwOnLimit: true, out _);

    /// <summary>
    /// <see cref="Acquire"/> for reads: when every open segment is in use it returns null with
    /// <paramref name="limitReached"/> set instead of throwing, so that a fetch of thousands of
    /// partitions past the bound costs no exception per partition.
    /// </summary>
    public SegmentFiles? TryAcquire(out bool limitReached) => AcquireCore(throwOnLimit: false, out limitReached);

    private SegmentFiles? AcquireCore(bool throwOnLimit, out bool limitReached)
    {
        limitReached = false;
        while (true)
        {
            SegmentFiles? files = Volatile.Read(ref _files);
            if (files is not null)
            {
                if (files.TryAcquire())
                {
                    return files;
                }

                Interlocked.CompareExchange(ref _files, null, files); // evicted and closed meanwhile
                continue;
            }

            lock (_openLock)
            {
                if (_deleted)
                {
                    return null;
                }

                if (Volatile.Read(ref _files) is not null)
                {
                    continue;
                }

                // Mapped at the capacity while active (the log grows into the mapping), else at the size.
                int logLength = IsSealed ? Size : _capacity;
                int indexEntries = IsSealed ? _index.Entries : _index.MaxEntries;
                int timeEntries = IsSealed ? _timeIndex.Entries : _timeIndex.MaxEntries;
                files = new SegmentFiles(this, _cache, LogPath(_directory, BaseOffset), logLength, _index.Path, _index.BytesFor(indexEntries),
                    _timeIndex.Path, _timeIndex.BytesFor(timeEntries));
                _ = files.TryAcquire(); // the caller's lease, before the cache can see it
                if (!_cache.TryAdmit(files))
                {
                    files.Release();
                    files.Release();
                    if (throwOnLimit)
                    {
                        throw new StorageLimitException(
                            $"All {_cache.MaxOpen} open segments (Storage:MaxOpenSegments) are in use; {files.Log.Path} cannot be opened now.");
                    }

                    limitReached = true;
                    return null;
                }

                Volatile.Write(ref _files, files);
                return files;
            }
        }
    }

    /// <summary>Called by the cache when it evicts <paramref name="files"/>.</summary>
    internal void Detach(SegmentFiles files) => Interlocked.CompareExchange(ref _files, null, files);

    /// <summary>True (once) when the writer created a file since the last call: the directory needs an fsync.</summary>
    public bool TakeCreatedFiles() => Volatile.Read(ref _createdFiles) != 0 && Interlocked.Exchange(ref _createdFiles, 0) != 0;

    /// <summary>True when a batch of <paramref name="batchSize"/> bytes fits after the current data.</summary>
    public bool CanFit(int batchSize) => !IsSealed && batchSize <= _capacity - Size && !_index.IsFull && !_timeIndex.IsFull;

    /// <summary>True when offsets up to <paramref name="lastOffset"/> can be indexed relative to the base.</summary>
    public bool CanIndex(long lastOffset) => lastOffset - BaseOffset <= int.MaxValue;

    /// <summary>
    /// Lets an empty active segment take <paramref name="capacity"/> bytes (a first batch larger than
    /// segment.bytes). Nothing is deleted or created (M7); the next lease maps the new capacity.
    /// Caller: the append lock.
    /// </summary>
    public void Grow(int capacity)
    {
        if (!IsEmpty || IsSealed || capacity <= _capacity)
        {
            return;
        }

        _capacity = capacity;
        DropFiles();
    }

    /// <summary>Closes the segment's files (they reopen on the next lease); readers keep theirs.</summary>
    public void DropFiles()
    {
        SegmentFiles? files;
        lock (_openLock)
        {
            files = Interlocked.Exchange(ref _files, null);
        }

        if (files is not null && _cache.Remove(files))
        {
            files.Release();
        }
    }

    /// <summary>Clean close: seal (trim), then close the files.</summary>
    public void Close()
    {
        Seal();
        Retire();
    }

    /// <summary>Refuses new leases and closes the files, leaving them on disk (close, crash tests).</summary>
    public void Retire()
    {
        lock (_openLock)
        {
            _deleted = true;
        }

        DropFiles();
    }

    /// <summary>Unlinks the files and refuses new leases; readers keep their mapping.</summary>
    public void Delete()
    {
        Retire();
        File.Delete(LogPath(_directory, BaseOffset));
        File.Delete(_index.Path);
        File.Delete(_timeIndex.Path);
    }

    private SegmentFiles AcquireForWrite() =>
        Acquire() ?? throw new InvalidOperationException($"Segment {BaseOffset} of {_directory} is closed.");
}
