using System.Buffers.Binary;
using LogBroker.Protocol.Records;
using LogBroker.Storage.Indexes;
using LogBroker.Storage.Internal;

namespace LogBroker.Storage;

/// <summary>
/// One segment of a partition: <c>&lt;20-digit base offset&gt;.log</c> with its <c>.index</c> and
/// <c>.timeindex</c>, all memory-mapped.
/// </summary>
/// <remarks>
/// <para>Format: the <c>.log</c> holds record batches v2 back to back, byte for byte as produced
/// except for the broker-owned base offset and partition leader epoch, and exactly as fetched. While
/// the segment is active the file is preallocated (sparse) to its capacity and everything past
/// <see cref="Size"/> is zero; when it is sealed (rolled) or closed cleanly the file and both
/// indexes are trimmed to their real lengths.</para>
/// <para>Thread-safety: one writer at a time (the partition's append lock) calls
/// <see cref="Append"/>, <see cref="Seal"/>, <see cref="TruncateTo"/>; any number of readers may call
/// the lookup and read methods concurrently, under a lease (<see cref="TryAcquire"/>). Size, next
/// offset and index entry counts are published with volatile writes after the bytes they cover.</para>
/// <para>Lifetime: the partition holds one reference; each reader lease another. <see cref="Close"/>
/// and <see cref="Delete"/> drop the partition's; the files are unmapped when the last lease is
/// released, so a roll, retention delete or close never unmaps memory a reader still uses.</para>
/// </remarks>
internal sealed class LogSegment
{
    private readonly MappedFile _log;
    private readonly string _directory;
    private readonly LogConfig _config;
    private OffsetIndex _index;
    private TimeIndex _timeIndex;
    private int _size;
    private long _nextOffset;
    private long _maxTimestamp = -1;
    private long _offsetOfMaxTimestamp = -1;
    private int _bytesSinceIndexEntry;
    private int _references = 1;

    private LogSegment(string directory, long baseOffset, MappedFile log, OffsetIndex index, TimeIndex timeIndex,
        LogConfig config, long createdTimestamp, bool sealed_)
    {
        _directory = directory;
        BaseOffset = baseOffset;
        _log = log;
        _index = index;
        _timeIndex = timeIndex;
        _config = config;
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

    public int Capacity => _log.Capacity;

    public bool IsEmpty => Size == 0;

    /// <summary>The log file's memory, for slices handed to readers under a lease.</summary>
    public MappedFile LogFile => _log;

    public static string FileStem(long baseOffset) => baseOffset.ToString("D20", System.Globalization.CultureInfo.InvariantCulture);

    public static string LogPath(string directory, long baseOffset) => Path.Combine(directory, FileStem(baseOffset) + ".log");

    private static string IndexPath(string directory, long baseOffset) => Path.Combine(directory, FileStem(baseOffset) + ".index");

    private static string TimeIndexPath(string directory, long baseOffset) => Path.Combine(directory, FileStem(baseOffset) + ".timeindex");

    /// <summary>Creates a new, empty, active segment whose log can hold <paramref name="capacity"/> bytes.</summary>
    public static LogSegment Create(string directory, long baseOffset, int capacity, LogConfig config, long now)
    {
        // A leftover index from a segment deleted at the same base offset must not be reused.
        File.Delete(IndexPath(directory, baseOffset));
        File.Delete(TimeIndexPath(directory, baseOffset));
        MappedFile log = MappedFile.Open(LogPath(directory, baseOffset), capacity, createNew: true);
        try
        {
            var index = new OffsetIndex(IndexPath(directory, baseOffset), config.SegmentIndexBytes, createNew: true);
            var timeIndex = new TimeIndex(TimeIndexPath(directory, baseOffset), config.SegmentIndexBytes, createNew: true);
            return new LogSegment(directory, baseOffset, log, index, timeIndex, config, now, sealed_: false);
        }
        catch
        {
            log.Unmap();
            throw;
        }
    }

    /// <summary>
    /// Opens an existing segment. <paramref name="active"/> maps it for appending (capacity at least
    /// <c>segment.bytes</c>); otherwise it is mapped at its file length and stays sealed.
    /// <paramref name="recover"/> scans every batch (length, magic, CRC, offsets), truncates at the
    /// first bad one and rebuilds both indexes; otherwise the indexes are sanity-checked, only the
    /// tail after the last index entry is walked, and a bad index is rebuilt.
    /// <paramref name="truncatedBytes"/> says how many bytes past the last valid batch were discarded
    /// and <paramref name="damaged"/> whether they held data (rather than preallocated zeros).
    /// </summary>
    public static LogSegment Open(string directory, long baseOffset, LogConfig config, bool active, bool recover,
        long now, out int truncatedBytes, out bool damaged)
    {
        string logPath = LogPath(directory, baseOffset);
        long fileLength = new FileInfo(logPath).Length;
        if (fileLength > int.MaxValue)
        {
            throw new IOException($"{logPath} is larger than 2 GiB.");
        }

        int capacity = active ? Math.Max(config.SegmentBytes, (int)fileLength) : (int)fileLength;
        MappedFile log = MappedFile.Open(logPath, capacity, createNew: false);
        LogSegment? segment = null;
        try
        {
            bool haveIndexes = File.Exists(IndexPath(directory, baseOffset)) && File.Exists(TimeIndexPath(directory, baseOffset));
            int? indexBytes = active ? config.SegmentIndexBytes : null;
            var index = haveIndexes
                ? new OffsetIndex(IndexPath(directory, baseOffset), indexBytes, createNew: false)
                : new OffsetIndex(IndexPath(directory, baseOffset), config.SegmentIndexBytes, createNew: !File.Exists(IndexPath(directory, baseOffset)));
            var timeIndex = haveIndexes
                ? new TimeIndex(TimeIndexPath(directory, baseOffset), indexBytes, createNew: false)
                : new TimeIndex(TimeIndexPath(directory, baseOffset), config.SegmentIndexBytes, createNew: !File.Exists(TimeIndexPath(directory, baseOffset)));
            segment = new LogSegment(directory, baseOffset, log, index, timeIndex, config, now, sealed_: !active);

            int extent = (int)fileLength;
            if (recover || !haveIndexes || !segment.TryLoadFromIndexes(extent))
            {
                segment.Rebuild(extent);
            }

            truncatedBytes = extent - segment.Size;
            damaged = false;
            if (truncatedBytes > 0)
            {
                // A preallocated (or untrimmed) tail is zeros; a torn or corrupt batch is not. Looking
                // at the first MiB past the end tells them apart without reading a whole sparse tail.
                damaged = log.GetSpan().Slice(segment.Size, Math.Min(truncatedBytes, 1 << 20)).IndexOfAnyExcept((byte)0) >= 0;
                segment.DiscardTail();
            }

            if (!active)
            {
                segment.TrimFiles();
            }

            return segment;
        }
        catch
        {
            if (segment is not null)
            {
                segment.CloseFiles();
            }
            else
            {
                log.Unmap();
            }

            throw;
        }
    }

    /// <summary>Takes a reader lease; false if the segment is already closed or deleted.</summary>
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
                return true;
            }
        }
    }

    /// <summary>Gives a lease back; the last one unmaps the files.</summary>
    public void Release()
    {
        int remaining = Interlocked.Decrement(ref _references);
        if (remaining == 0)
        {
            CloseFiles();
        }
        else if (remaining < 0)
        {
            throw new InvalidOperationException($"Segment {BaseOffset} released more often than acquired.");
        }
    }

    /// <summary>True when a batch of <paramref name="batchSize"/> bytes fits after the current data.</summary>
    public bool CanFit(int batchSize) => !IsSealed && batchSize <= _log.Capacity - Size && !_index.IsFull && !_timeIndex.IsFull;

    /// <summary>True when offsets up to <paramref name="lastOffset"/> can be indexed relative to the base.</summary>
    public bool CanIndex(long lastOffset) => lastOffset - BaseOffset <= int.MaxValue;

    /// <summary>
    /// Copies a validated batch after the current data (one pwrite into the page cache the mapping
    /// shares), writes the broker-owned base offset and leader epoch into the copy, and indexes it.
    /// Caller: the append lock, <see cref="CanFit"/> true.
    /// </summary>
    public void Append(ReadOnlySpan<byte> batch, in RecordBatchHeader header, long baseOffset, int leaderEpoch)
    {
        int position = _size;
        _log.Write(position, batch);
        // The broker-owned fields, in place: the page was just written, so this store does not fault it in.
        Span<byte> owned = _log.Slice(position, RecordBatch.MagicOffset);
        RecordBatch.SetBaseOffset(owned, baseOffset);
        RecordBatch.SetPartitionLeaderEpoch(owned, leaderEpoch);
        IndexBatch(position, baseOffset, header.LastOffsetDelta, header.MaxTimestamp, batch.Length);
        Volatile.Write(ref _size, position + batch.Length);
    }

    /// <summary>Position of the first batch whose last offset is ≥ <paramref name="offset"/>, or -1.</summary>
    public int FindPosition(long offset)
    {
        int size = Size;
        int position = offset <= BaseOffset ? 0 : _index.Lookup((int)Math.Min(offset - BaseOffset, int.MaxValue)).Position;
        Span<byte> log = _log.GetSpan();
        while (position <= size - RecordBatch.HeaderSize)
        {
            ReadOnlySpan<byte> header = log[position..];
            long baseOffset = BinaryPrimitives.ReadInt64BigEndian(header);
            int lastDelta = BinaryPrimitives.ReadInt32BigEndian(header[RecordBatch.LastOffsetDeltaOffset..]);
            if (baseOffset + lastDelta >= offset)
            {
                return position;
            }

            position += BinaryPrimitives.ReadInt32BigEndian(header[RecordBatch.LengthOffset..]) + RecordBatch.LogOverhead;
        }

        return -1;
    }

    /// <summary>
    /// Length of the whole batches starting at <paramref name="position"/> that fit in
    /// <paramref name="maxBytes"/> — at least the first batch, even when it alone is larger.
    /// </summary>
    public int LengthOfBatches(int position, int maxBytes)
    {
        int size = Size;
        Span<byte> log = _log.GetSpan();
        int end = position;
        while (end <= size - RecordBatch.LogOverhead)
        {
            int batchSize = BinaryPrimitives.ReadInt32BigEndian(log[(end + RecordBatch.LengthOffset)..]) + RecordBatch.LogOverhead;
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
    /// null when every batch here is older.
    /// </summary>
    /// <remarks>
    /// Batches are found by their max timestamp. Inside an uncompressed CreateTime batch the exact
    /// record is found. Inside a compressed batch whose first record is older than the target the
    /// records are not decompressed: the batch's base offset and max timestamp are returned, so a
    /// consumer starting there re-reads at most the older records of that one batch, never misses one.
    /// </remarks>
    public (long Offset, long Timestamp)? FindByTimestamp(long timestamp)
    {
        if (MaxTimestamp < timestamp)
        {
            return null;
        }

        int size = Size;
        int position = _timeIndex.LookupBefore(timestamp) is { } entry ? _index.Lookup(entry.RelativeOffset).Position : 0;
        Span<byte> log = _log.GetSpan();
        while (position <= size - RecordBatch.HeaderSize)
        {
            RecordBatchHeader header = RecordBatchHeader.Read(log[position..]);
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
    /// Removes every batch at or after <paramref name="position"/>: zeroes their bytes (so recovery
    /// cannot resurrect them) and drops their index entries. Readers still holding those bytes see
    /// zeros. Caller: the append lock, on an active segment.
    /// </summary>
    public void TruncateTo(int position)
    {
        int oldSize = Size;
        if (position >= oldSize)
        {
            return;
        }

        Volatile.Write(ref _size, position);
        _log.Slice(position, oldSize - position).Clear();

        // Rebuilding rewrites the surviving entries with the same values, so a concurrent lookup
        // sees either the old entry, the same new one, or none (and scans from the start).
        if (Rebuild(position) != 0)
        {
            throw new InvalidOperationException($"Segment {BaseOffset}: stored batches failed validation during truncation.");
        }
    }

    /// <summary>
    /// Seals the segment on roll: a last time-index entry, then log and indexes trimmed to their
    /// real lengths. The mapping stays for readers. Caller: the append lock.
    /// </summary>
    public void Seal()
    {
        if (IsSealed)
        {
            return;
        }

        if (MaxTimestamp > (_timeIndex.Last?.Timestamp ?? long.MinValue) && !_timeIndex.IsFull)
        {
            _timeIndex.Append(MaxTimestamp, (int)(OffsetOfMaxTimestamp - BaseOffset));
        }

        IsSealed = true;
        TrimFiles();
    }

    /// <summary>fsync of the log and both indexes.</summary>
    public void Flush()
    {
        _log.FlushToDisk();
        _index.FlushToDisk();
        _timeIndex.FlushToDisk();
    }

    /// <summary>Drops the partition's reference after trimming the files (clean close).</summary>
    public void Close()
    {
        Seal();
        Release();
    }

    /// <summary>Unlinks the files and drops the partition's reference; readers keep their mapping.</summary>
    public void Delete()
    {
        File.Delete(LogPath(_directory, BaseOffset));
        File.Delete(IndexPath(_directory, BaseOffset));
        File.Delete(TimeIndexPath(_directory, BaseOffset));
        Release();
    }

    private void IndexBatch(int position, long baseOffset, int lastOffsetDelta, long maxTimestamp, int batchSize)
    {
        if (maxTimestamp > _maxTimestamp)
        {
            Volatile.Write(ref _maxTimestamp, maxTimestamp);
            Volatile.Write(ref _offsetOfMaxTimestamp, baseOffset);
        }

        if (position > 0 && _bytesSinceIndexEntry >= _config.IndexIntervalBytes && !_index.IsFull)
        {
            _index.Append((int)(baseOffset - BaseOffset), position);
            if (_maxTimestamp > (_timeIndex.Last?.Timestamp ?? long.MinValue) && !_timeIndex.IsFull)
            {
                _timeIndex.Append(_maxTimestamp, (int)(_offsetOfMaxTimestamp - BaseOffset));
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
    private bool TryLoadFromIndexes(int extent)
    {
        if (!_index.IsSane(extent))
        {
            return false;
        }

        int start = _index.Entries == 0 ? 0 : _index[_index.Entries - 1].Position;
        if (_index.Entries > 0)
        {
            (long ts, int relative) = _timeIndex.Last ?? (-1, 0);
            _maxTimestamp = ts;
            _offsetOfMaxTimestamp = ts < 0 ? -1 : BaseOffset + relative;
        }

        _bytesSinceIndexEntry = 0;
        int end = Scan(start, extent, rebuildIndexes: false);
        if (end == start && start > 0)
        {
            return false; // the batch the index points at is bad: do not trust anything here
        }

        if (!_timeIndex.IsSane(_nextOffset - BaseOffset))
        {
            return false;
        }

        _size = end;
        return true;
    }

    /// <summary>Full recovery scan from position 0; returns the bytes past the last valid batch.</summary>
    private int Rebuild(int extent)
    {
        if (IsSealed || _index.MaxEntries == 0 || _timeIndex.MaxEntries == 0)
        {
            // Sealed indexes are mapped read-only at their length: start new, writable ones.
            RecreateIndexes();
        }

        _index.Reset();
        _timeIndex.Reset();
        _maxTimestamp = -1;
        _offsetOfMaxTimestamp = -1;
        _bytesSinceIndexEntry = 0;
        _nextOffset = BaseOffset;
        int end = Scan(0, extent, rebuildIndexes: true);
        _size = end;
        return extent - end;
    }

    /// <summary>
    /// Walks batches from <paramref name="position"/> up to <paramref name="extent"/>, validating
    /// each (lengths, magic, record count, CRC, offsets increasing), and stops at the first bad one.
    /// Returns the end of the last good batch.
    /// </summary>
    private int Scan(int position, int extent, bool rebuildIndexes)
    {
        ReadOnlySpan<byte> log = _log.GetSpan()[..Math.Min(extent, _log.Capacity)];
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
                IndexBatch(position, header.BaseOffset, header.LastOffsetDelta, header.MaxTimestamp, size);
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
    /// Makes the bytes past <see cref="Size"/> zero after a recovery truncation: the file is cut at
    /// the last good batch (and re-extended when active), then fsynced, so the discarded tail can
    /// never reappear after later appends and a second crash. Runs at open, before any reader.
    /// </summary>
    private void DiscardTail()
    {
        _log.SetFileLength(_size);
        if (!IsSealed)
        {
            _log.SetFileLength(_log.Capacity);
        }

        _log.FlushToDisk();
    }

    private void RecreateIndexes()
    {
        _index.Close();
        _timeIndex.Close();
        File.Delete(IndexPath(_directory, BaseOffset));
        File.Delete(TimeIndexPath(_directory, BaseOffset));
        _index = new OffsetIndex(IndexPath(_directory, BaseOffset), _config.SegmentIndexBytes, createNew: true);
        _timeIndex = new TimeIndex(TimeIndexPath(_directory, BaseOffset), _config.SegmentIndexBytes, createNew: true);
    }

    private void TrimFiles()
    {
        _log.SetFileLength(Size);
        _index.Trim();
        _timeIndex.Trim();
    }

    private void CloseFiles()
    {
        _index.Close();
        _timeIndex.Close();
        _log.Unmap();
    }
}
