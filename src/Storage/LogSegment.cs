using System.Buffers.Binary;
using LogBroker.Protocol.Records;
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
internal sealed class LogSegment
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

    /// <summary>
    /// Writes a validated batch after the current data: pwrite of the first 16 bytes with the
    /// broker-owned base offset and leader epoch set, then pwrite of the rest; then indexes it.
    /// Caller: the append lock, <see cref="CanFit"/> true.
    /// </summary>
    /// <returns>Null, or the error of an index write that failed after the batch itself was stored:
    /// the batch is appended (an index is sparse), and the caller fails the partition for later appends.</returns>
    /// <exception cref="IOException">The batch could not be written; nothing is published.</exception>
    public IOException? Append(ReadOnlySpan<byte> batch, in RecordBatchHeader header, long baseOffset, int leaderEpoch)
    {
        SegmentFiles files = AcquireForWrite();
        try
        {
            if (files.Log.Open(create: true))
            {
                Volatile.Write(ref _createdFiles, 1);
            }

            int position = _size;
            Span<byte> owned = stackalloc byte[RecordBatch.MagicOffset];
            batch[..RecordBatch.MagicOffset].CopyTo(owned);
            RecordBatch.SetBaseOffset(owned, baseOffset);
            RecordBatch.SetPartitionLeaderEpoch(owned, leaderEpoch);
            _logExists = true;
            try
            {
                files.Log.Write(position, owned);
                files.Log.Write(position + RecordBatch.MagicOffset, batch[RecordBatch.MagicOffset..]);
            }
            catch (IOException)
            {
                _logFileLength = long.MaxValue; // a partial write may have grown the file: look before trimming
                throw;
            }

            _logFileLength = Math.Max(_logFileLength, position + batch.Length);
            IndexBatch(files, position, baseOffset, header.LastOffsetDelta, header.MaxTimestamp, batch.Length);
            int size = position + batch.Length;
            _largestSize = Math.Max(_largestSize, size);
            Volatile.Write(ref _size, size);
            return Interlocked.Exchange(ref _indexFailure, null);
        }
        finally
        {
            files.Release();
        }
    }

    /// <summary>
    /// Position of the first batch whose last offset is ≥ <paramref name="offset"/>; -1 when every
    /// batch is older; -2 when a stored batch length is impossible (corruption: the walk stops
    /// instead of looping, M8). Caller: a lease on <paramref name="files"/>.
    /// </summary>
    public int FindPosition(SegmentFiles files, long offset)
    {
        int size = Size;
        if (size == 0)
        {
            return -1;
        }

        int position = offset <= BaseOffset || _index.Entries == 0
            ? 0
            : _index.Lookup(OpenIndex(files.Index), (int)Math.Min(offset - BaseOffset, int.MaxValue)).Position;
        ReadOnlySpan<byte> log = files.Log.GetSpan()[..size];
        while (position <= size - RecordBatch.HeaderSize)
        {
            ReadOnlySpan<byte> header = log[position..];
            long baseOffset = BinaryPrimitives.ReadInt64BigEndian(header);
            int lastDelta = BinaryPrimitives.ReadInt32BigEndian(header[RecordBatch.LastOffsetDeltaOffset..]);
            int length = BinaryPrimitives.ReadInt32BigEndian(header[RecordBatch.LengthOffset..]);
            if (length < RecordBatch.MinBatchLength || length > size - position - RecordBatch.LogOverhead)
            {
                return -2;
            }

            if (baseOffset + lastDelta >= offset)
            {
                return position;
            }

            position += length + RecordBatch.LogOverhead;
        }

        return -1;
    }

    /// <summary>
    /// Length of the whole batches starting at <paramref name="position"/> that fit in
    /// <paramref name="maxBytes"/> — at least the first batch, even when it alone is larger; -1
    /// when the first stored length is impossible (a later impossible length ends the run there).
    /// </summary>
    public int LengthOfBatches(SegmentFiles files, int position, int maxBytes)
    {
        int size = Size;
        ReadOnlySpan<byte> log = files.Log.GetSpan()[..size];
        int end = position;
        while (end <= size - RecordBatch.LogOverhead)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(log[(end + RecordBatch.LengthOffset)..]);
            if (length < RecordBatch.MinBatchLength || length > size - end - RecordBatch.LogOverhead)
            {
                return end == position ? -1 : end - position;
            }

            int batchSize = length + RecordBatch.LogOverhead;
            if (end > position && end - position + batchSize > maxBytes)
            {
                break;
            }

            end += batchSize;
        }

        return end - position;
    }

    /// <summary>
    /// The first record whose timestamp is ≥ <paramref name="timestamp"/>, as (offset, timestamp), or
    /// null when every batch here is older (or a stored length is impossible).
    /// </summary>
    /// <remarks>
    /// Batches are found by their max timestamp. Inside an uncompressed CreateTime batch the exact
    /// record is found. Inside a compressed batch whose first record is older than the target the
    /// records are not decompressed: the batch's base offset and max timestamp are returned, so a
    /// consumer starting there re-reads at most the older records of that one batch, never misses one.
    /// </remarks>
    public (long Offset, long Timestamp)? FindByTimestamp(SegmentFiles files, long timestamp)
    {
        if (MaxTimestamp < timestamp)
        {
            return null;
        }

        int size = Size;
        int position = _timeIndex.Entries > 0 && _timeIndex.LookupBefore(OpenIndex(files.TimeIndex), timestamp) is { } entry
            ? (_index.Entries > 0 ? _index.Lookup(OpenIndex(files.Index), entry.RelativeOffset).Position : 0)
            : 0;
        ReadOnlySpan<byte> log = files.Log.GetSpan()[..size];
        while (position <= size - RecordBatch.HeaderSize)
        {
            RecordBatchHeader header = RecordBatchHeader.Read(log[position..]);
            if (header.BatchLength < RecordBatch.MinBatchLength || header.BatchLength > size - position - RecordBatch.LogOverhead)
            {
                return null;
            }

            if (header.MaxTimestamp >= timestamp)
            {
                return FindInBatch(log.Slice(position, header.TotalSize), header, timestamp);
            }

            position += header.TotalSize;
        }

        return null;
    }

    private static (long Offset, long Timestamp) FindInBatch(ReadOnlySpan<byte> batch, in RecordBatchHeader header, long timestamp)
    {
        if (header.IsLogAppendTime)
        {
            return (header.BaseOffset, header.MaxTimestamp);
        }

        if (header.BaseTimestamp >= timestamp)
        {
            return (header.BaseOffset, header.BaseTimestamp);
        }

        if (header.Compression == CompressionType.None)
        {
            var reader = new RecordReader(batch[RecordBatch.HeaderSize..]);
            while (reader.TryRead(out RecordView record))
            {
                if (header.BaseTimestamp + record.TimestampDelta >= timestamp)
                {
                    return (header.BaseOffset + record.OffsetDelta, header.BaseTimestamp + record.TimestampDelta);
                }
            }
        }

        return (header.BaseOffset, header.MaxTimestamp);
    }

    /// <summary>
    /// Makes a sealed segment the active one again (a truncation into it): it may grow to
    /// segment.bytes and its indexes too. Caller: the append lock.
    /// </summary>
    public void Unseal()
    {
        if (!IsSealed)
        {
            return;
        }

        IsSealed = false;
        _capacity = Math.Max(_config.SegmentBytes, Size);
        _index.AllowGrowth(_config.SegmentIndexBytes);
        _timeIndex.AllowGrowth(_config.SegmentIndexBytes);
        DropFiles(); // the next lease maps the larger capacity
    }

    /// <summary>
    /// Removes every batch at or after <paramref name="position"/>: zeroes their bytes with pwrite
    /// (so recovery cannot resurrect them; the file is not shrunk under readers) and rewrites the
    /// index entries that remain, zeroing the dropped ones. Readers still holding those bytes see
    /// zeros. Caller: the append lock, on an active segment.
    /// </summary>
    public void TruncateTo(int position)
    {
        int oldSize = Size;
        if (position >= oldSize)
        {
            return;
        }

        SegmentFiles files = AcquireForWrite();
        try
        {
            _ = files.Log.Open(create: false);
            Volatile.Write(ref _size, position);
            files.Log.WriteZeros(position, oldSize - position);
            int oldEntries = _index.Entries, oldTimeEntries = _timeIndex.Entries;

            // Rebuilding rewrites the surviving entries with the same values, so a concurrent lookup
            // sees either the old entry, the same new one, or none (and scans from the start).
            ResetState();
            int end = Scan(files, 0, position, rebuildIndexes: true);
            if (end != position)
            {
                throw new InvalidOperationException($"Segment {BaseOffset}: stored batches failed validation during truncation.");
            }

            if (_index.Entries < oldEntries)
            {
                OpenIndex(files.Index);
                files.Index.WriteZeros(_index.BytesFor(_index.Entries), _index.BytesFor(oldEntries - _index.Entries));
            }

            if (_timeIndex.Entries < oldTimeEntries)
            {
                OpenIndex(files.TimeIndex);
                files.TimeIndex.WriteZeros(_timeIndex.BytesFor(_timeIndex.Entries), _timeIndex.BytesFor(oldTimeEntries - _timeIndex.Entries));
            }
        }
        finally
        {
            files.Release();
        }
    }

    /// <summary>
    /// Seals the segment on roll or clean close: a last time-index entry, and the log cut to its
    /// size unless a larger size was published in this process (readers may hold it mapped).
    /// Caller: the append lock.
    /// </summary>
    public void Seal()
    {
        if (IsSealed)
        {
            return;
        }

        // A last time entry, for segments that have index entries at all (a small segment is walked
        // whole at open anyway; this keeps a partition of one record at one file).
        if (!IsEmpty && !_indexingStopped && _index.Entries > 0 && MaxTimestamp > (_timeIndex.Last?.Timestamp ?? long.MinValue) && !_timeIndex.IsFull)
        {
            SegmentFiles files = AcquireForWrite();
            try
            {
                if (files.TimeIndex.Open(create: true))
                {
                    Volatile.Write(ref _createdFiles, 1);
                }

                _timeIndexExists = true;
                _timeIndex.Append(files.TimeIndex, MaxTimestamp, (int)(OffsetOfMaxTimestamp - BaseOffset));
            }
            catch (IOException)
            {
                // Not needed for correctness: the open walks every batch after the last offset-index
                // entry, which covers whatever this entry would have said.
                _indexingStopped = true;
            }
            finally
            {
                files.Release();
            }
        }

        IsSealed = true;
        if (_logExists && _largestSize == Size && _logFileLength > Size)
        {
            SegmentFiles files = AcquireForWrite();
            try
            {
                _ = files.Log.Open(create: false);
                if (files.Log.FileLength > Size)
                {
                    files.Log.SetFileLength(Size);
                }

                _logFileLength = Size;
            }
            finally
            {
                files.Release();
            }
        }
    }

    /// <summary>fsync of the log and both indexes (those that exist).</summary>
    public void Flush()
    {
        if (!_logExists && !_indexExists && !_timeIndexExists)
        {
            return;
        }

        SegmentFiles files = AcquireForWrite();
        try
        {
            FlushFile(files.Log, _logExists);
            FlushFile(files.Index, _indexExists);
            FlushFile(files.TimeIndex, _timeIndexExists);
        }
        finally
        {
            files.Release();
        }
    }

    private static void FlushFile(MappedFile file, bool exists)
    {
        if (exists)
        {
            _ = file.Open(create: false);
            file.FlushToDisk();
        }
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

    private static MappedFile OpenIndex(MappedFile file)
    {
        _ = file.Open(create: false);
        return file;
    }

    private void IndexBatch(SegmentFiles files, int position, long baseOffset, int lastOffsetDelta, long maxTimestamp, int batchSize)
    {
        if (maxTimestamp > _maxTimestamp)
        {
            Volatile.Write(ref _maxTimestamp, maxTimestamp);
            Volatile.Write(ref _offsetOfMaxTimestamp, baseOffset);
        }

        if (position > 0 && _bytesSinceIndexEntry >= _config.IndexIntervalBytes && !_index.IsFull && !_indexingStopped)
        {
            // The time entry first: the offset index must never cover a batch whose timestamp the
            // time index (plus the walk after the last offset entry at open) does not account for.
            try
            {
                if (_maxTimestamp > (_timeIndex.Last?.Timestamp ?? long.MinValue) && !_timeIndex.IsFull)
                {
                    if (files.TimeIndex.Open(create: true))
                    {
                        Volatile.Write(ref _createdFiles, 1);
                    }

                    _timeIndexExists = true;
                    _timeIndex.Append(files.TimeIndex, _maxTimestamp, (int)(_offsetOfMaxTimestamp - BaseOffset));
                }

                if (files.Index.Open(create: true))
                {
                    Volatile.Write(ref _createdFiles, 1);
                }

                _indexExists = true;
                _index.Append(files.Index, (int)(baseOffset - BaseOffset), position);
            }
            catch (StorageLimitException)
            {
                // No descriptor for an index file just now: this entry is skipped (an index is sparse;
                // an offset entry is only written after its time entry), and the next batch past the
                // interval tries again. Not a failure of the partition.
            }
            catch (IOException e)
            {
                // A full disk. The indexes are sparse caches: what they hold stays valid, this
                // segment just gets no more entries (lookups walk further), and the caller learns
                // of the failure to refuse later appends. A torn entry fails the check at next open.
                _indexingStopped = true;
                _indexFailure ??= e;
            }

            _bytesSinceIndexEntry = 0;
        }

        _bytesSinceIndexEntry += batchSize;
        Volatile.Write(ref _nextOffset, baseOffset + lastOffsetDelta + 1);
    }

    /// <summary>
    /// Trusted open (clean shutdown, or below the recovery point): checks the indexes, then walks
    /// and verifies only the batches after the last offset-index entry. False when an index is not
    /// sane; the caller then rebuilds.
    /// </summary>
    private bool TryLoadFromIndexes(SegmentFiles files, int extent)
    {
        if (_index.Entries > 0)
        {
            OpenIndex(files.Index);
        }

        if (_timeIndex.Entries > 0)
        {
            OpenIndex(files.TimeIndex);
        }

        if (!_index.IsSane(files.Index, extent))
        {
            return false;
        }

        _timeIndex.LoadLast(files.TimeIndex);
        int start = _index.Entries == 0 ? 0 : _index.Read(files.Index, _index.Entries - 1).Position;
        if (_index.Entries > 0)
        {
            (long ts, int relative) = _timeIndex.Last ?? (-1, 0);
            _maxTimestamp = ts;
            _offsetOfMaxTimestamp = ts < 0 ? -1 : BaseOffset + relative;
        }

        _bytesSinceIndexEntry = 0;
        int end = Scan(files, start, extent, rebuildIndexes: false);
        if (end == start && start > 0)
        {
            return false; // the batch the index points at is bad: do not trust anything here
        }

        if (!_timeIndex.IsSane(files.TimeIndex, _nextOffset - BaseOffset))
        {
            return false;
        }

        _size = end;
        return true;
    }

    /// <summary>Full recovery scan from position 0 at open (no reader yet): indexes cut to nothing and rewritten.</summary>
    private void RebuildAtOpen(SegmentFiles files, int extent)
    {
        ResetState();
        foreach ((MappedFile file, bool exists) in new[] { (files.Index, _indexExists), (files.TimeIndex, _timeIndexExists) })
        {
            if (exists)
            {
                _ = file.Open(create: false);
                file.SetFileLength(0);
            }
        }

        _index.AllowGrowth(_config.SegmentIndexBytes);
        _timeIndex.AllowGrowth(_config.SegmentIndexBytes);
        _size = Scan(files, 0, extent, rebuildIndexes: true);
    }

    private void ResetState()
    {
        _indexingStopped = false;
        _indexFailure = null;
        _index.Reset();
        _timeIndex.Reset();
        _maxTimestamp = -1;
        _offsetOfMaxTimestamp = -1;
        _bytesSinceIndexEntry = 0;
        _nextOffset = BaseOffset;
    }

    /// <summary>
    /// Walks batches from <paramref name="position"/> up to <paramref name="extent"/>, validating
    /// each (lengths, magic, record count, CRC, offsets increasing), and stops at the first bad one.
    /// Returns the end of the last good batch.
    /// </summary>
    private int Scan(SegmentFiles files, int position, int extent, bool rebuildIndexes)
    {
        if (extent == 0)
        {
            return 0;
        }

        ReadOnlySpan<byte> log = files.Log.GetSpan()[..extent];
        long expectedMinimum = position == 0 ? BaseOffset : BinaryPrimitives.ReadInt64BigEndian(log[position..]);
        while (position < log.Length)
        {
            if (RecordBatch.Validate(log[position..], out RecordBatchHeader header, out int size) != BatchValidation.Valid ||
                header.BaseOffset < expectedMinimum || !CanIndex(header.LastOffset))
            {
                break;
            }

            if (rebuildIndexes)
            {
                IndexBatch(files, position, header.BaseOffset, header.LastOffsetDelta, header.MaxTimestamp, size);
            }
            else
            {
                if (header.MaxTimestamp > _maxTimestamp)
                {
                    _maxTimestamp = header.MaxTimestamp;
                    _offsetOfMaxTimestamp = header.BaseOffset;
                }

                _bytesSinceIndexEntry += size;
                _nextOffset = header.LastOffset + 1;
            }

            expectedMinimum = header.LastOffset + 1;
            position += size;
        }

        return position;
    }

    /// <summary>
    /// Cuts the file at the last good batch after a recovery truncation and fsyncs it, so the
    /// discarded tail can never reappear after later appends and a second crash. Runs at open,
    /// before any reader.
    /// </summary>
    private void DiscardTail(SegmentFiles files)
    {
        _ = files.Log.Open(create: false);
        files.Log.SetFileLength(_size);
        files.Log.FlushToDisk();
    }
}
