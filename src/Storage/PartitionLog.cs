using System.Globalization;
using LogBroker.Protocol.Records;
using LogBroker.Storage.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Storage;

/// <summary>
/// The log of one partition: a directory of segments, appended at the end, read from anywhere
/// between the log start offset and the log end offset.
/// </summary>
/// <remarks>
/// <para><b>Appended vs durable.</b> <see cref="Append"/> returns once the batch has been copied into
/// the active segment's shared mapping: it is then in the kernel's page cache, so it survives a crash
/// of this process (kill -9) whatever the flush settings, and readers see it. It is <i>durable</i> —
/// survives power loss or a kernel crash — only once flushed: <see cref="Flush(long)"/> fsyncs the
/// segments and indexes written since the last flush and advances <see cref="RecoveryPoint"/>.
/// Flushes happen (a) inside <see cref="Append"/> when <see cref="LogConfig.FlushMessages"/> records
/// are unflushed (so with 1, every append is durable before it returns), (b) from the maintenance task
/// when <see cref="LogConfig.FlushInterval"/> has passed, (c) when a caller asks (acks=all), and (d) on
/// close. After a power loss, data past the recovery point may be lost or torn; recovery keeps every
/// whole, CRC-valid batch up to the first bad one and discards the rest.</para>
/// <para><b>Threading.</b> One writer at a time: appends, rolls, retention and truncation take the
/// append lock. Reads take no lock: <see cref="LogEndOffset"/> and <see cref="LogStartOffset"/> are
/// volatile, the segment list is an immutable array replaced on change, and each read holds a lease on
/// its segment. Flushes take their own lock, so an fsync never blocks appends.</para>
/// <para><b>Failure.</b> After an I/O error while writing, the partition keeps failing every append and
/// flush with that error (as FasterLog does); reads of data already appended still work.</para>
/// </remarks>
public sealed partial class PartitionLog : IDisposable
{
    private readonly Lock _appendLock = new();
    private readonly Lock _flushLock = new();
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private LogConfig _config;
    private LogSegment[] _segments;
    private long _logEndOffset;
    private long _logStartOffset;
    private long _recoveryPoint;
    private long _unflushedRecords;
    private long _lastFlushTimestamp;
    private bool _directoryDirty;
    private bool _closed;
    private Exception? _failure;
    private TaskCompletionSource? _appendSignal;

    private PartitionLog(string directory, LogConfig config, TimeProvider time, ILogger logger, LogSegment[] segments)
    {
        Directory = directory;
        _config = config;
        _time = time;
        _logger = logger;
        _segments = segments;
        _logEndOffset = segments[^1].NextOffset;
        _lastFlushTimestamp = time.GetTimestamp();
    }

    /// <summary>The partition's directory.</summary>
    public string Directory { get; }

    /// <summary>The settings in force.</summary>
    public LogConfig Config => Volatile.Read(ref _config);

    /// <summary>The offset the next appended record gets. Lock-free.</summary>
    public long LogEndOffset => Volatile.Read(ref _logEndOffset);

    /// <summary>The first offset still readable. Lock-free.</summary>
    public long LogStartOffset => Volatile.Read(ref _logStartOffset);

    /// <summary>Every offset below this is on disk (fsynced).</summary>
    public long RecoveryPoint => Volatile.Read(ref _recoveryPoint);

    /// <summary>Partition leader epoch written into every appended batch. 0 on a single node.</summary>
    public int LeaderEpoch { get; set; }

    /// <summary>Number of segments.</summary>
    public int SegmentCount => Volatile.Read(ref _segments).Length;

    /// <summary>Bytes of stored batches in all segments.</summary>
    public long Size
    {
        get
        {
            long total = 0;
            foreach (LogSegment segment in Volatile.Read(ref _segments))
            {
                total += segment.Size;
            }

            return total;
        }
    }

    /// <summary>Base offsets of the segments, oldest first (for tools and tests).</summary>
    public IReadOnlyList<long> SegmentBaseOffsets
    {
        get
        {
            LogSegment[] segments = Volatile.Read(ref _segments);
            long[] bases = new long[segments.Length];
            for (int i = 0; i < segments.Length; i++)
            {
                bases[i] = segments[i].BaseOffset;
            }

            return bases;
        }
    }

    /// <summary>
    /// Opens (or creates) the partition in <paramref name="directory"/>.
    /// </summary>
    /// <param name="directory">The partition's directory; created if missing.</param>
    /// <param name="config">Its settings.</param>
    /// <param name="cleanShutdown">True when the last close was clean (the caller found the
    /// clean-shutdown marker): segments are trusted after an index sanity check and a walk of each
    /// segment's tail. False: every segment holding offsets at or past <paramref name="recoveryPoint"/>
    /// is scanned batch by batch and its indexes rebuilt; the log is truncated at the first incomplete,
    /// zero-filled or corrupt batch, and later segments are deleted.</param>
    /// <param name="recoveryPoint">Offsets below it were flushed before the last shutdown.</param>
    /// <param name="logStartOffset">The log start offset recorded at the last checkpoint.</param>
    /// <param name="time">Clock for segment age and flush interval.</param>
    /// <param name="logger">Where recovery reports what it did.</param>
    public static PartitionLog Open(string directory, LogConfig config, bool cleanShutdown, long recoveryPoint = 0,
        long logStartOffset = 0, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        time ??= TimeProvider.System;
        logger ??= NullLogger.Instance;
        System.IO.Directory.CreateDirectory(directory);
        long now = time.GetTimestamp();

        List<long> bases = ListSegmentBases(directory);
        var segments = new List<LogSegment>(bases.Count + 1);
        try
        {
            for (int i = 0; i < bases.Count; i++)
            {
                bool last = i == bases.Count - 1;
                bool recover = !cleanShutdown && (last || bases[i + 1] > recoveryPoint);
                LogSegment segment = LogSegment.Open(directory, bases[i], config, active: last, recover, now, out int discarded, out bool damaged);
                if (recover)
                {
                    segment.Flush();
                }

                if (damaged && !last)
                {
                    // Everything after the first bad batch goes, later segments included; the
                    // damaged segment becomes the active one.
                    Log.TruncatedSegment(logger, directory, bases[i], discarded, bases.Count - i - 1);
                    for (int j = i + 1; j < bases.Count; j++)
                    {
                        DeleteSegmentFiles(directory, bases[j]);
                    }

                    segment.Release();
                    segment = LogSegment.Open(directory, bases[i], config, active: true, recover: false, now, out _, out _);
                    segments.Add(segment);
                    break;
                }

                if (damaged)
                {
                    Log.TruncatedSegment(logger, directory, bases[i], discarded, 0);
                }

                segments.Add(segment);
            }

            if (segments.Count == 0)
            {
                segments.Add(LogSegment.Create(directory, Math.Max(0, logStartOffset), config.SegmentBytes, config, now));
                Posix.FsyncDirectory(directory);
            }
        }
        catch
        {
            foreach (LogSegment segment in segments)
            {
                segment.Release();
            }

            throw;
        }

        var log = new PartitionLog(directory, config, time, logger, [.. segments]);
        long end = log._logEndOffset;
        log._logStartOffset = Math.Clamp(logStartOffset, segments[0].BaseOffset, end);
        // After a clean close everything was flushed; after recovery the scanned segments were
        // fsynced above. Either way the whole log is on disk now.
        log._recoveryPoint = end;
        return log;
    }

    /// <summary>Replaces the settings; the next append and maintenance pass use them.</summary>
    public void UpdateConfig(LogConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Volatile.Write(ref _config, config);
    }

    /// <summary>
    /// Appends one record batch v2. It is validated (lengths, magic, record count, CRC-32C) and
    /// copied into the active segment with the assigned base offset and the leader epoch written in
    /// place; nothing is decompressed. <paramref name="batch"/> itself is not modified.
    /// </summary>
    /// <returns>The assigned offsets, or why the batch was refused (nothing is written then).</returns>
    /// <exception cref="IOException">The disk failed; the partition keeps failing from now on.</exception>
    public AppendResult Append(ReadOnlySpan<byte> batch)
    {
        BatchValidation validation = RecordBatch.Validate(batch, out RecordBatchHeader header, out int size);
        if (validation == BatchValidation.Valid && size != batch.Length)
        {
            validation = BatchValidation.InvalidLength; // exactly one batch, no trailing bytes
        }

        if (validation != BatchValidation.Valid)
        {
            return new AppendResult(AppendStatus.InvalidBatch, -1, -1, validation);
        }

        return AppendValidated(batch, header);
    }

    /// <summary>
    /// <see cref="Append"/> for a caller that has just run <see cref="RecordBatch.Validate"/> on exactly
    /// these bytes (one whole batch, nothing after it) and got <paramref name="header"/>: skips the
    /// second CRC pass. Still refuses batches over <see cref="LogConfig.MaxMessageBytes"/>.
    /// </summary>
    public AppendResult AppendValidated(ReadOnlySpan<byte> batch, in RecordBatchHeader header)
    {
        int size = batch.Length;
        LogConfig config = Config;
        if (size > config.MaxMessageBytes)
        {
            return new AppendResult(AppendStatus.BatchTooLarge, -1, -1);
        }

        long baseOffset;
        long lastOffset;
        bool flush;
        lock (_appendLock)
        {
            ThrowIfUnusable();
            baseOffset = _logEndOffset;
            lastOffset = baseOffset + header.LastOffsetDelta;
            try
            {
                LogSegment active = _segments[^1];
                if (!active.CanFit(size) || !active.CanIndex(lastOffset) ||
                    (!active.IsEmpty && _time.GetElapsedTime(active.CreatedTimestamp) >= config.SegmentAge))
                {
                    active = Roll(size, config);
                }

                active.Append(batch, header, baseOffset, LeaderEpoch);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Fail(e);
            }

            Volatile.Write(ref _logEndOffset, lastOffset + 1);
            long unflushed = Interlocked.Add(ref _unflushedRecords, header.LastOffsetDelta + 1);
            flush = config.FlushMessages is { } limit && unflushed >= limit;
        }

        Interlocked.Exchange(ref _appendSignal, null)?.TrySetResult();

        if (flush)
        {
            Flush(lastOffset + 1);
        }

        return new AppendResult(AppendStatus.Success, baseOffset, lastOffset);
    }

    /// <summary>
    /// A task that completes once the log end offset is past <paramref name="offset"/> (at once if it
    /// already is). For long-polling fetches: no polling, and no allocation while nobody waits.
    /// </summary>
    public Task WhenAppendedAfter(long offset)
    {
        if (LogEndOffset > offset)
        {
            return Task.CompletedTask;
        }

        TaskCompletionSource signal = Volatile.Read(ref _appendSignal) ?? InstallSignal();
        // An append between the check above and the install may have missed the new signal.
        return LogEndOffset > offset ? Task.CompletedTask : signal.Task;
    }

    private TaskCompletionSource InstallSignal()
    {
        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return Interlocked.CompareExchange(ref _appendSignal, created, null) ?? created;
    }

    /// <summary>
    /// Reads stored batches starting with the one that holds <paramref name="offset"/>: whole batches
    /// up to <paramref name="maxBytes"/>, but always at least one whole batch, however large. A read
    /// never spans two segments (call again from the next offset). Dispose the result.
    /// </summary>
    public LogReadResult Read(long offset, int maxBytes)
    {
        for (int attempt = 0; ; attempt++)
        {
            long start = LogStartOffset;
            long end = LogEndOffset;
            if (offset < start || offset > end)
            {
                return new LogReadResult(ReadStatus.OffsetOutOfRange, default, start, end, null);
            }

            if (offset == end || attempt > 3)
            {
                // At the end; or the range keeps vanishing under us (a concurrent truncation).
                return new LogReadResult(ReadStatus.Success, default, start, end, null);
            }

            LogSegment[] segments = Volatile.Read(ref _segments);
            for (int i = Math.Max(0, FindSegment(segments, offset)); i < segments.Length; i++)
            {
                LogSegment segment = segments[i];
                if (!segment.TryAcquire())
                {
                    break; // deleted or closed meanwhile: start over with the new list
                }

                int position = segment.FindPosition(offset);
                if (position < 0)
                {
                    segment.Release();
                    continue;
                }

                int length = segment.LengthOfBatches(position, maxBytes);
                return new LogReadResult(ReadStatus.Success, segment.LogFile.Memory.Slice(position, length), start, end, segment);
            }
        }
    }

    /// <summary>
    /// Calls <paramref name="visit"/> for every stored batch from the one holding
    /// <paramref name="fromOffset"/> to the end of the log as it was when the scan started (for
    /// rebuilding state from the log: producer state, committed offsets).
    /// </summary>
    public void ScanBatches(long fromOffset, BatchVisitor visit)
    {
        ArgumentNullException.ThrowIfNull(visit);
        long offset = Math.Max(fromOffset, LogStartOffset);
        long end = LogEndOffset;
        while (offset < end)
        {
            using LogReadResult read = Read(offset, 4 * 1024 * 1024);
            if (read.Status != ReadStatus.Success || read.Records.IsEmpty)
            {
                return;
            }

            ReadOnlySpan<byte> batches = read.Records.Span;
            while (batches.Length >= RecordBatch.HeaderSize)
            {
                RecordBatchHeader header = RecordBatchHeader.Read(batches);
                visit(header, batches[..header.TotalSize]);
                offset = header.LastOffset + 1;
                batches = batches[header.TotalSize..];
            }
        }
    }

    /// <summary>
    /// The first offset whose record timestamp is ≥ <paramref name="timestamp"/> (ms since the epoch)
    /// and that record's timestamp; null when no record is that recent. See
    /// <see cref="LogSegment.FindByTimestamp"/> for compressed batches.
    /// </summary>
    public (long Offset, long Timestamp)? OffsetForTimestamp(long timestamp)
    {
        LogSegment[] segments = Volatile.Read(ref _segments);
        foreach (LogSegment segment in segments)
        {
            if (segment.MaxTimestamp < timestamp || !segment.TryAcquire())
            {
                continue;
            }

            try
            {
                if (segment.FindByTimestamp(timestamp) is { } found)
                {
                    long start = LogStartOffset;
                    return found.Offset >= start ? found : (start, found.Timestamp);
                }
            }
            finally
            {
                segment.Release();
            }
        }

        return null;
    }

    /// <summary>The greatest batch max timestamp and the base offset of its batch, or null when empty.</summary>
    public (long Offset, long Timestamp)? MaxTimestamp()
    {
        (long Offset, long Timestamp)? best = null;
        foreach (LogSegment segment in Volatile.Read(ref _segments))
        {
            if (!segment.IsEmpty && (best is null || segment.MaxTimestamp > best.Value.Timestamp))
            {
                best = (Math.Max(segment.OffsetOfMaxTimestamp, LogStartOffset), segment.MaxTimestamp);
            }
        }

        return best;
    }

    /// <summary>Flushes everything appended so far.</summary>
    public void Flush() => Flush(long.MaxValue);

    /// <summary>
    /// Makes every offset below <paramref name="upToOffset"/> durable (fsync of the segments written
    /// since the last flush, their indexes and, after a roll, the directory). Returns at once when the
    /// recovery point is already there, so concurrent callers share one fsync (group commit).
    /// </summary>
    public void Flush(long upToOffset)
    {
        if (RecoveryPoint >= Math.Min(upToOffset, LogEndOffset))
        {
            return;
        }

        lock (_flushLock)
        {
            long target = LogEndOffset;
            long from = RecoveryPoint;
            if (from >= Math.Min(upToOffset, target))
            {
                return;
            }

            ThrowIfUnusable();
            Interlocked.Exchange(ref _unflushedRecords, 0);
            LogSegment[] segments = Volatile.Read(ref _segments);
            try
            {
                if (Volatile.Read(ref _directoryDirty))
                {
                    Volatile.Write(ref _directoryDirty, false);
                    Posix.FsyncDirectory(Directory);
                }

                for (int i = 0; i < segments.Length; i++)
                {
                    LogSegment segment = segments[i];
                    if ((segment.NextOffset > from || i == segments.Length - 1) && segment.TryAcquire())
                    {
                        try
                        {
                            segment.Flush();
                        }
                        finally
                        {
                            segment.Release();
                        }
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Fail(e);
            }

            Volatile.Write(ref _recoveryPoint, target);
            Volatile.Write(ref _lastFlushTimestamp, _time.GetTimestamp());
        }
    }

    /// <summary>Flushes when <see cref="LogConfig.FlushInterval"/> has passed since the last flush.</summary>
    public void FlushIfDue()
    {
        if (Config.FlushInterval is { } interval && RecoveryPoint < LogEndOffset &&
            _time.GetElapsedTime(Volatile.Read(ref _lastFlushTimestamp)) >= interval)
        {
            Flush();
        }
    }

    /// <summary>Seals the active segment and starts a new one at the log end offset (if the active one has data).</summary>
    public void Roll()
    {
        lock (_appendLock)
        {
            ThrowIfUnusable();
            if (!_segments[^1].IsEmpty)
            {
                Roll(0, Config);
            }
        }
    }

    /// <summary>
    /// Applies retention: deletes, oldest first, whole segments that are entirely below the log start
    /// offset, whose newest timestamp is older than <see cref="LogConfig.RetentionTime"/>, or while the
    /// partition is larger than <see cref="LogConfig.RetentionBytes"/>. The active segment is rolled
    /// first when it has expired too. Advances the log start offset. Returns the segments deleted.
    /// </summary>
    public int ApplyRetention()
    {
        lock (_appendLock)
        {
            ThrowIfUnusable();
            LogConfig config = Config;
            long cutoff = config.RetentionTime is { } retention
                ? _time.GetUtcNow().ToUnixTimeMilliseconds() - (long)retention.TotalMilliseconds
                : long.MinValue;

            LogSegment active = _segments[^1];
            if (!active.IsEmpty && active.MaxTimestamp < cutoff && AllSealedExpired(cutoff))
            {
                Roll(0, config);
            }

            LogSegment[] segments = _segments;
            long total = 0;
            foreach (LogSegment segment in segments)
            {
                total += segment.Size;
            }

            int count = 0;
            while (count < segments.Length - 1)
            {
                LogSegment oldest = segments[count];
                bool belowStart = oldest.NextOffset <= _logStartOffset;
                bool expired = oldest.MaxTimestamp < cutoff;
                bool oversize = config.RetentionBytes is { } limit && total - oldest.Size >= limit;
                if (!belowStart && !expired && !oversize)
                {
                    break;
                }

                total -= oldest.Size;
                count++;
            }

            if (count > 0)
            {
                DeleteOldest(count);
            }

            return count;
        }
    }

    /// <summary>
    /// Moves the log start offset to <paramref name="offset"/> (DeleteRecords): offsets below it are no
    /// longer readable, and segments entirely below it are deleted. Returns the new log start offset.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is past the log end offset.</exception>
    public long DeleteRecordsBefore(long offset)
    {
        lock (_appendLock)
        {
            ThrowIfUnusable();
            ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, _logEndOffset);
            if (offset > _logStartOffset)
            {
                Volatile.Write(ref _logStartOffset, offset);
                int count = 0;
                while (count < _segments.Length - 1 && _segments[count].NextOffset <= offset)
                {
                    count++;
                }

                if (count > 0)
                {
                    DeleteOldest(count);
                }
            }

            return _logStartOffset;
        }
    }

    /// <summary>
    /// Removes every batch whose last offset is ≥ <paramref name="offset"/>, so the log end offset
    /// becomes the base offset of the first removed batch (exactly <paramref name="offset"/> when it is
    /// a batch boundary). Truncated bytes are zeroed on disk so recovery cannot bring them back.
    /// Readers still holding slices of the removed range may see them change.
    /// </summary>
    /// <returns>The new log end offset.</returns>
    public long TruncateTo(long offset)
    {
        lock (_appendLock)
        {
            ThrowIfUnusable();
            ArgumentOutOfRangeException.ThrowIfNegative(offset);
            if (offset >= _logEndOffset)
            {
                return _logEndOffset;
            }

            try
            {
                LogSegment[] segments = _segments;
                long now = _time.GetTimestamp();
                if (offset <= segments[0].BaseOffset)
                {
                    // Everything goes: start again, empty, at the requested offset.
                    foreach (LogSegment segment in segments)
                    {
                        segment.Delete();
                    }

                    long start = Math.Max(offset, 0);
                    Volatile.Write(ref _segments, [LogSegment.Create(Directory, start, Config.SegmentBytes, Config, now)]);
                    Volatile.Write(ref _logStartOffset, start);
                }
                else
                {
                    int keep = FindSegment(segments, offset);
                    LogSegment target = segments[keep];
                    int position = target.FindPosition(offset);
                    if (position < 0)
                    {
                        position = target.Size;
                    }

                    for (int i = keep + 1; i < segments.Length; i++)
                    {
                        segments[i].Delete();
                    }

                    if (target.IsSealed)
                    {
                        // It becomes the active segment again: reopen it writable.
                        target.Release();
                        target = LogSegment.Open(Directory, target.BaseOffset, Config, active: true, recover: false, now, out _, out _);
                    }

                    target.TruncateTo(position);
                    LogSegment[] kept = segments[..(keep + 1)];
                    kept[keep] = target;
                    Volatile.Write(ref _segments, kept);
                }

                long end = _segments[^1].NextOffset;
                Volatile.Write(ref _logEndOffset, end);
                Volatile.Write(ref _logStartOffset, Math.Min(_logStartOffset, end));
                Volatile.Write(ref _recoveryPoint, Math.Min(_recoveryPoint, end));
                Volatile.Write(ref _directoryDirty, true);
                return end;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Fail(e);
            }
        }
    }

    /// <summary>Flushes and closes cleanly: segments and indexes are trimmed to their real lengths.</summary>
    public void Dispose()
    {
        lock (_appendLock)
        {
            if (_closed)
            {
                return;
            }

            try
            {
                if (_failure is null)
                {
                    Flush();
                }
            }
            finally
            {
                _closed = true;
                foreach (LogSegment segment in _segments)
                {
                    if (_failure is null)
                    {
                        segment.Close();
                    }
                    else
                    {
                        segment.Release();
                    }
                }
            }
        }
    }

    /// <summary>
    /// Closes without trimming or flushing, leaving the files as a crash would (for crash tests and
    /// for deleting the partition).
    /// </summary>
    internal void Abandon()
    {
        lock (_appendLock)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            foreach (LogSegment segment in _segments)
            {
                segment.Release();
            }
        }
    }

    private static List<long> ListSegmentBases(string directory)
    {
        var bases = new List<long>();
        foreach (string path in System.IO.Directory.EnumerateFiles(directory, "*.log"))
        {
            string stem = Path.GetFileNameWithoutExtension(path);
            if (stem.Length == 20 && long.TryParse(stem, NumberStyles.None, CultureInfo.InvariantCulture, out long baseOffset))
            {
                bases.Add(baseOffset);
            }
        }

        bases.Sort();
        return bases;
    }

    private static void DeleteSegmentFiles(string directory, long baseOffset)
    {
        string stem = Path.Combine(directory, LogSegment.FileStem(baseOffset));
        File.Delete(stem + ".log");
        File.Delete(stem + ".index");
        File.Delete(stem + ".timeindex");
    }

    /// <summary>Index of the last segment whose base offset is ≤ <paramref name="offset"/>, or -1.</summary>
    private static int FindSegment(LogSegment[] segments, long offset)
    {
        int lo = 0, hi = segments.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (int)((uint)(lo + hi) >> 1);
            if (segments[mid].BaseOffset <= offset)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return found;
    }

    private bool AllSealedExpired(long cutoff)
    {
        for (int i = 0; i < _segments.Length - 1; i++)
        {
            if (_segments[i].MaxTimestamp >= cutoff)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Caller: the append lock.</summary>
    private LogSegment Roll(int neededBytes, LogConfig config)
    {
        LogSegment active = _segments[^1];
        int capacity = Math.Max(config.SegmentBytes, neededBytes);
        long now = _time.GetTimestamp();
        LogSegment next;
        if (active.IsEmpty)
        {
            // Nothing to seal: replace the empty segment with one large enough.
            active.Delete();
            next = LogSegment.Create(Directory, active.BaseOffset, capacity, config, now);
            LogSegment[] replaced = (LogSegment[])_segments.Clone();
            replaced[^1] = next;
            Volatile.Write(ref _segments, replaced);
        }
        else
        {
            active.Seal();
            next = LogSegment.Create(Directory, _logEndOffset, capacity, config, now);
            Volatile.Write(ref _segments, [.. _segments, next]);
            Log.RolledSegment(_logger, Directory, active.BaseOffset, active.Size, _logEndOffset);
        }

        Volatile.Write(ref _directoryDirty, true);
        return next;
    }

    /// <summary>Caller: the append lock. Deletes the <paramref name="count"/> oldest (never the active) segments.</summary>
    private void DeleteOldest(int count)
    {
        LogSegment[] segments = _segments;
        Volatile.Write(ref _segments, segments[count..]);
        Volatile.Write(ref _logStartOffset, Math.Max(_logStartOffset, segments[count].BaseOffset));
        for (int i = 0; i < count; i++)
        {
            Log.DeletedSegment(_logger, Directory, segments[i].BaseOffset, segments[i].Size);
            segments[i].Delete();
        }

        Volatile.Write(ref _directoryDirty, true);
    }

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (_failure is not null)
        {
            throw new IOException($"Partition {Directory} failed earlier and accepts no more writes.", _failure);
        }
    }

    private IOException Fail(Exception e)
    {
        _failure ??= e;
        Log.PartitionFailed(_logger, e, Directory);
        return e as IOException ?? new IOException(e.Message, e);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, Level = LogLevel.Warning,
            Message = "Recovery of {Directory}: segment {BaseOffset} had a damaged tail of {Bytes} bytes after its last valid batch; truncated there and deleted {LaterSegments} later segments")]
        public static partial void TruncatedSegment(ILogger logger, string directory, long baseOffset, int bytes, int laterSegments);

        [LoggerMessage(EventId = 1002, Level = LogLevel.Debug,
            Message = "Rolled {Directory}: sealed segment {BaseOffset} at {Size} bytes, new segment at offset {NextOffset}")]
        public static partial void RolledSegment(ILogger logger, string directory, long baseOffset, int size, long nextOffset);

        [LoggerMessage(EventId = 1003, Level = LogLevel.Information,
            Message = "Deleted segment {BaseOffset} ({Size} bytes) of {Directory}")]
        public static partial void DeletedSegment(ILogger logger, string directory, long baseOffset, int size);

        [LoggerMessage(EventId = 1004, Level = LogLevel.Error,
            Message = "Partition {Directory} failed; it accepts no more writes until restarted")]
        public static partial void PartitionFailed(ILogger logger, Exception exception, string directory);
    }
}

/// <summary>Receives one stored batch during <see cref="PartitionLog.ScanBatches"/>; the span is valid only during the call.</summary>
public delegate void BatchVisitor(in RecordBatchHeader header, ReadOnlySpan<byte> batch);
