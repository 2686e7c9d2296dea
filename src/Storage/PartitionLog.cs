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
/// <para><b>Appended vs durable.</b> <see cref="Append"/> returns once the batch has been written
/// (pwrite) into the active segment's file: it is then in the kernel's page cache, so it survives a
/// crash of this process (kill -9) whatever the flush settings, and readers see it. It is
/// <i>durable</i> — survives power loss or a kernel crash — only once flushed: <see cref="Flush(long)"/>
/// fsyncs the segments and indexes written since the last flush and advances <see cref="RecoveryPoint"/>.
/// Flushes happen (a) inside <see cref="Append"/> when <see cref="LogConfig.FlushMessages"/> records
/// are unflushed (so with 1, every append is durable before it returns), (b) from the maintenance task
/// when <see cref="LogConfig.FlushInterval"/> has passed, (c) when a caller asks (acks=all), and (d) on
/// close. After a power loss, data past the recovery point may be lost or torn; recovery keeps every
/// whole, CRC-valid batch up to the first bad one and discards the rest.</para>
/// <para><b>Lazy.</b> A partition opened by a <see cref="LogManager"/> is not loaded until first
/// used (any read, write or offset query): until then it costs this object and nothing else — no
/// descriptor, no mapping, no scan. Loading lists its segments and opens each (trusted, or
/// recovered when the last shutdown was not clean for it). Once loaded, its segments hold state in
/// memory and open their files only while used, within the data directory's bound
/// (<see cref="StorageOptions.MaxOpenSegments"/>; see <see cref="LogSegment"/>).</para>
/// <para><b>Threading.</b> One writer at a time: appends, rolls, retention and truncation take the
/// append lock. Reads take no lock: <see cref="LogEndOffset"/> and <see cref="LogStartOffset"/> are
/// volatile, the segment list is an immutable array replaced on change, and each read holds a lease on
/// its segment's files. Flushes take their own lock, so an fsync never blocks appends.</para>
/// <para><b>Failure.</b> After an I/O error while writing (a full disk: ENOSPC), the partition fails
/// every append and flush with an <see cref="IOException"/>; reads of data already appended keep
/// working and retention keeps deleting. Once <see cref="RetryInterval"/> has passed, the next write
/// reloads the partition from disk (a recovery scan of its tail); if that succeeds it accepts writes
/// again, without a restart. A <see cref="StorageLimitException"/> (too many open segments) fails
/// only that one call.</para>
/// </remarks>
public sealed partial class PartitionLog : IDisposable
{
    private readonly Lock _appendLock = new();
    private readonly Lock _flushLock = new();
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SegmentCache _cache;
    private readonly bool _flushRecovered;
    private LogConfig _config;
    private LogSegment[]? _segments;
    private long _logEndOffset;
    private long _logStartOffset;
    private long _recoveryPoint;
    private long _unflushedRecords;
    private long _lastFlushTimestamp;
    private bool _needsRecovery;
    private bool _loadFailed;
    private bool _directoryDirty;
    private bool _parentDirectoryDirty;
    private bool _closed;
    private Exception? _failure;
    private long _failedTimestamp;
    private TaskCompletionSource? _appendSignal;

    private PartitionLog(string directory, LogConfig config, TimeProvider time, ILogger logger, SegmentCache cache,
        bool needsRecovery, long recoveryPoint, long logStartOffset, bool flushRecovered)
    {
        Directory = directory;
        _config = config;
        _time = time;
        _logger = logger;
        _cache = cache;
        _needsRecovery = needsRecovery;
        _recoveryPoint = recoveryPoint;
        _logStartOffset = logStartOffset;
        _logEndOffset = logStartOffset;
        _flushRecovered = flushRecovered;
        _lastFlushTimestamp = time.GetTimestamp();
    }

    /// <summary>The partition's directory.</summary>
    public string Directory { get; }

    /// <summary>The settings in force.</summary>
    public LogConfig Config => Volatile.Read(ref _config);

    /// <summary>The offset the next appended record gets. Lock-free once loaded.</summary>
    public long LogEndOffset
    {
        get
        {
            _ = Segments;
            return Volatile.Read(ref _logEndOffset);
        }
    }

    /// <summary>The first offset still readable. Lock-free once loaded.</summary>
    public long LogStartOffset
    {
        get
        {
            _ = Segments;
            return Volatile.Read(ref _logStartOffset);
        }
    }

    /// <summary>Every offset below this is on disk (fsynced).</summary>
    public long RecoveryPoint
    {
        get
        {
            _ = Segments;
            return Volatile.Read(ref _recoveryPoint);
        }
    }

    /// <summary>How long a failed partition refuses writes before the next write tries to reload it.</summary>
    /// <remarks>Default 10 seconds; set from <see cref="StorageOptions.FailedPartitionRetryInterval"/>.</remarks>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Partition leader epoch written into every appended batch. 0 on a single node.</summary>
    public int LeaderEpoch { get; set; }

    /// <summary>Number of segments.</summary>
    public int SegmentCount => Segments.Length;

    /// <summary>Bytes of stored batches in all segments.</summary>
    public long Size
    {
        get
        {
            long total = 0;
            foreach (LogSegment segment in Segments)
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
            LogSegment[] segments = Segments;
            long[] bases = new long[segments.Length];
            for (int i = 0; i < segments.Length; i++)
            {
                bases[i] = segments[i].BaseOffset;
            }

            return bases;
        }
    }

    /// <summary>The partition's directory was created and its parent not fsynced since: the first flush does it.</summary>
    internal bool ParentDirectoryDirty
    {
        get => Volatile.Read(ref _parentDirectoryDirty);
        set => Volatile.Write(ref _parentDirectoryDirty, value);
    }

    /// <summary>Whether the partition has been loaded (used) since it was opened.</summary>
    public bool IsLoaded => Volatile.Read(ref _segments) is not null;

    /// <summary>
    /// Not recovered since its last unclean shutdown (not loaded yet, or its load failed), or failed
    /// since: the next load must scan it in full.
    /// </summary>
    internal bool PendingRecovery => Volatile.Read(ref _needsRecovery) || Volatile.Read(ref _failure) is not null;

    /// <summary>The recovery point to checkpoint: the loaded one, or the one it was opened with.</summary>
    internal long CheckpointRecoveryPoint => Volatile.Read(ref _recoveryPoint);

    /// <summary>The log start offset to checkpoint: the loaded one, or the one it was opened with.</summary>
    internal long CheckpointLogStartOffset => Volatile.Read(ref _logStartOffset);

    /// <summary>
    /// Opens (or creates) the partition in <paramref name="directory"/> and loads it now.
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
        System.IO.Directory.CreateDirectory(directory);
        PartitionLog log = OpenLazily(directory, config, !cleanShutdown, recoveryPoint, logStartOffset,
            time ?? TimeProvider.System, logger ?? NullLogger.Instance, SegmentCache.Shared, flushRecovered: true);
        lock (log._appendLock)
        {
            log.Load(throwOnFailure: true);
        }

        return log;
    }

    /// <summary>
    /// A partition that loads on first use (see the class remarks). <paramref name="flushRecovered"/>
    /// false when the caller already made the whole file system durable (syncfs) since the crash, so
    /// recovered segments need no fsync of their own.
    /// </summary>
    internal static PartitionLog OpenLazily(string directory, LogConfig config, bool needsRecovery, long recoveryPoint,
        long logStartOffset, TimeProvider time, ILogger logger, SegmentCache cache, bool flushRecovered) =>
        new(directory, config, time, logger, cache, needsRecovery, Math.Max(0, recoveryPoint), Math.Max(0, logStartOffset), flushRecovered);

    /// <summary>The segment list, loading the partition first if needed.</summary>
    private LogSegment[] Segments
    {
        get
        {
            LogSegment[]? segments = Volatile.Read(ref _segments);
            if (segments is not null)
            {
                return segments;
            }

            lock (_appendLock)
            {
                return _segments ?? Load(throwOnFailure: false);
            }
        }
    }

    /// <summary>
    /// Caller: the append lock. Lists and opens the segments. On failure the partition is failed
    /// (an empty placeholder at the checkpointed log start offset; writes retry later) unless
    /// <paramref name="throwOnFailure"/>.
    /// </summary>
    private LogSegment[] Load(bool throwOnFailure)
    {
        long started = _time.GetTimestamp();
        try
        {
            LogSegment[] segments = OpenSegments(_needsRecovery, out long end);
            _needsRecovery = false;
            ApplyLoaded(segments, end);
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                double milliseconds = _time.GetElapsedTime(started).TotalMilliseconds;
                Log.LoadedPartition(_logger, Directory, segments.Length, _logStartOffset, end, milliseconds);
            }
            return segments;
        }
        catch (Exception e) when (!throwOnFailure && e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            Log.LoadFailed(_logger, e, Directory);
            _failure = e;
            _loadFailed = true;
            _failedTimestamp = FailedAt(e);
            LogSegment placeholder = LogSegment.Placeholder(Directory, _logStartOffset, Config, _cache, _time.GetTimestamp());
            ApplyLoaded([placeholder], _logStartOffset);
            return [placeholder];
        }
    }

    private void ApplyLoaded(LogSegment[] segments, long end)
    {
        Volatile.Write(ref _logEndOffset, end);
        Volatile.Write(ref _logStartOffset, Math.Clamp(_logStartOffset, segments[0].BaseOffset, end));
        // After a clean close everything was flushed; after recovery the scanned segments were
        // fsynced (or the whole file system was synced at start). Either way the log is on disk now.
        Volatile.Write(ref _recoveryPoint, end);
        Volatile.Write(ref _segments, segments);
    }

    /// <summary>Caller: the append lock. Opens every segment in the directory; see <see cref="Open"/>.</summary>
    private LogSegment[] OpenSegments(bool recoverAll, out long end)
    {
        LogConfig config = Config;
        long now = _time.GetTimestamp();
        long recoveryPoint = _recoveryPoint;
        List<long> bases;
        try
        {
            bases = ListSegmentBases(Directory);
        }
        catch (IOException e) when (e is not StorageLimitException && Posix.IsResourceExhaustion(e))
        {
            // Listing the directory takes a descriptor: make room once, else a transient refusal.
            if (_cache.Relieve() == 0)
            {
                throw new StorageLimitException($"{Directory} cannot be listed now: the process's open-file limit is reached.", e);
            }

            try
            {
                bases = ListSegmentBases(Directory);
            }
            catch (IOException again) when (again is not StorageLimitException && Posix.IsResourceExhaustion(again))
            {
                throw new StorageLimitException($"{Directory} cannot be listed now: the process's open-file limit is reached.", again);
            }
        }

        var segments = new List<LogSegment>(bases.Count + 1);
        try
        {
            for (int i = 0; i < bases.Count; i++)
            {
                bool last = i == bases.Count - 1;
                bool recover = recoverAll && (last || bases[i + 1] > recoveryPoint);
                LogSegment segment = LogSegment.Open(Directory, bases[i], config, _cache, active: last, recover, now, out int discarded, out bool damaged);
                segments.Add(segment);
                if (recover && _flushRecovered)
                {
                    segment.Flush();
                }

                if (damaged && !last)
                {
                    // Everything after the first bad batch goes, later segments included; the
                    // damaged segment becomes the active one. The deletions are made durable before
                    // anything is appended (M9): otherwise a second crash could bring them back
                    // under offsets the new appends reuse.
                    Log.TruncatedSegment(_logger, Directory, bases[i], discarded, bases.Count - i - 1);
                    for (int j = i + 1; j < bases.Count; j++)
                    {
                        DeleteSegmentFiles(Directory, bases[j]);
                    }

                    Posix.FsyncDirectory(Directory);
                    segment.Unseal();
                    break;
                }

                if (damaged)
                {
                    Log.TruncatedSegment(_logger, Directory, bases[i], discarded, 0);
                }
            }

            if (segments.Count == 0)
            {
                // A new (or emptied) partition: the first segment's files appear with its first append.
                segments.Add(LogSegment.Create(Directory, Math.Max(0, _logStartOffset), config.SegmentBytes, config, _cache, now));
                Volatile.Write(ref _directoryDirty, true);
            }
        }
        catch
        {
            foreach (LogSegment segment in segments)
            {
                segment.Retire();
            }

            throw;
        }

        end = segments[^1].NextOffset;
        return [.. segments];
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
            LogSegment[] segments = Segments;
            ThrowIfUnusable();
            baseOffset = _logEndOffset;
            lastOffset = baseOffset + header.LastOffsetDelta;
            IOException? indexFailure;
            try
            {
                LogSegment active = _segments![^1];
                if (!active.CanFit(size) || !active.CanIndex(lastOffset) ||
                    (!active.IsEmpty && _time.GetElapsedTime(active.CreatedTimestamp) >= config.SegmentAge))
                {
                    active = Roll(size, config);
                }

                indexFailure = active.Append(batch, header, baseOffset, LeaderEpoch);
                if (active.TakeCreatedFiles())
                {
                    Volatile.Write(ref _directoryDirty, true);
                }
            }
            catch (Exception e) when (e is IOException and not StorageLimitException or UnauthorizedAccessException)
            {
                throw Fail(e);
            }

            Volatile.Write(ref _logEndOffset, lastOffset + 1);
            if (indexFailure is not null)
            {
                _ = Fail(indexFailure); // this batch is stored; the next append fails
            }

            GC.KeepAlive(segments);
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
        if (Volatile.Read(ref _loadFailed))
        {
            RetryFailedLoad();
        }

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

            LogSegment[] segments = Segments;
            for (int i = Math.Max(0, FindSegment(segments, offset)); i < segments.Length; i++)
            {
                LogSegment segment = segments[i];
                SegmentFiles? files;
                int position, length;
                try
                {
                    files = segment.TryAcquire(out bool limitReached);
                    if (limitReached)
                    {
                        // Every open segment is in use (a fetch of more partitions than the bound):
                        // transient, so no exception and no warning per partition.
                        Log.ReadLimited(_logger, Directory, offset);
                        return new LogReadResult(ReadStatus.StorageError, default, start, end, null);
                    }

                    if (files is null)
                    {
                        break; // deleted or closed meanwhile: start over with the new list
                    }

                    try
                    {
                        position = segment.FindPosition(files, offset);
                        length = position < 0 ? 0 : segment.LengthOfBatches(files, position, maxBytes);
                    }
                    catch
                    {
                        files.Release();
                        throw;
                    }
                }
                catch (FileNotFoundException)
                {
                    break; // deleted between the list and the open: start over
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Log.ReadFailed(_logger, e, Directory, offset);
                    return new LogReadResult(ReadStatus.StorageError, default, start, end, null);
                }

                if (position == -1)
                {
                    files.Release();
                    continue;
                }

                if (position < 0 || length < 0)
                {
                    files.Release();
                    Log.CorruptSegment(_logger, Directory, segment.BaseOffset, offset);
                    return new LogReadResult(ReadStatus.StorageError, default, start, end, null);
                }

                return new LogReadResult(ReadStatus.Success, files.Log.Memory.Slice(position, length), start, end, files);
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

            if (read.Status != ReadStatus.Success)
            {
                return;
            }

            ReadOnlySpan<byte> batches = read.Records.Span;
            while (batches.Length >= RecordBatch.HeaderSize)
            {
                RecordBatchHeader header = RecordBatchHeader.Read(batches);
                if (header.BatchLength < RecordBatch.MinBatchLength || header.TotalSize > batches.Length)
                {
                    return; // an impossible stored length (M8): stop rather than loop
                }

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
        LogSegment[] segments = Segments;
        foreach (LogSegment segment in segments)
        {
            if (segment.MaxTimestamp < timestamp || segment.Acquire() is not { } files)
            {
                continue;
            }

            try
            {
                if (segment.FindByTimestamp(files, timestamp) is { } found)
                {
                    long start = LogStartOffset;
                    return found.Offset >= start ? found : (start, found.Timestamp);
                }
            }
            finally
            {
                files.Release();
            }
        }

        return null;
    }

    /// <summary>The greatest batch max timestamp and the base offset of its batch, or null when empty.</summary>
    public (long Offset, long Timestamp)? MaxTimestamp()
    {
        (long Offset, long Timestamp)? best = null;
        foreach (LogSegment segment in Segments)
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
            using StorageTelemetry.FlushTiming timing = StorageTelemetry.StartFlush();
            Interlocked.Exchange(ref _unflushedRecords, 0);
            LogSegment[] segments = Segments;
            try
            {
                if (ParentDirectoryDirty)
                {
                    ParentDirectoryDirty = false;
                    Posix.FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(Directory))!);
                }

                if (Volatile.Read(ref _directoryDirty))
                {
                    Volatile.Write(ref _directoryDirty, false);
                    Posix.FsyncDirectory(Directory);
                }

                for (int i = 0; i < segments.Length; i++)
                {
                    LogSegment segment = segments[i];
                    if (segment.NextOffset > from || i == segments.Length - 1)
                    {
                        segment.Flush();
                    }
                }
            }
            catch (Exception e) when (e is IOException and not StorageLimitException or UnauthorizedAccessException)
            {
                throw Fail(e);
            }
            catch (InvalidOperationException) when (_closed)
            {
                throw new ObjectDisposedException(nameof(PartitionLog));
            }

            Volatile.Write(ref _recoveryPoint, target);
            Volatile.Write(ref _lastFlushTimestamp, _time.GetTimestamp());
        }
    }

    /// <summary>Flushes when <see cref="LogConfig.FlushInterval"/> has passed since the last flush.</summary>
    public void FlushIfDue()
    {
        if (IsLoaded && Config.FlushInterval is { } interval && RecoveryPoint < LogEndOffset &&
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
            _ = Segments;
            ThrowIfUnusable();
            if (!_segments![^1].IsEmpty)
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
            _ = Segments;
            ObjectDisposedException.ThrowIf(_closed, this);
            LogConfig config = Config;
            long cutoff = config.RetentionTime is { } retention
                ? _time.GetUtcNow().ToUnixTimeMilliseconds() - (long)retention.TotalMilliseconds
                : long.MinValue;

            // A failed partition still deletes expired segments (a full disk needs the space back); it only does not roll.
            LogSegment active = _segments![^1];
            if (_failure is null && !active.IsEmpty && active.MaxTimestamp < cutoff && AllSealedExpired(cutoff))
            {
                try
                {
                    Roll(0, config);
                }
                catch (Exception e) when (e is IOException and not StorageLimitException or UnauthorizedAccessException)
                {
                    _ = Fail(e);
                }
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
            _ = Segments;
            ThrowIfUnusable();
            ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, _logEndOffset);
            if (offset > _logStartOffset)
            {
                Volatile.Write(ref _logStartOffset, offset);
                int count = 0;
                while (count < _segments!.Length - 1 && _segments[count].NextOffset <= offset)
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
            _ = Segments;
            ThrowIfUnusable();
            ArgumentOutOfRangeException.ThrowIfNegative(offset);
            if (offset >= _logEndOffset)
            {
                return _logEndOffset;
            }

            try
            {
                LogSegment[] segments = _segments!;
                long now = _time.GetTimestamp();
                if (offset <= segments[0].BaseOffset)
                {
                    // Everything goes: start again, empty, at the requested offset.
                    foreach (LogSegment segment in segments)
                    {
                        segment.Delete();
                    }

                    long start = Math.Max(offset, 0);
                    Volatile.Write(ref _segments, [LogSegment.Create(Directory, start, Config.SegmentBytes, Config, _cache, now)]);
                    Volatile.Write(ref _logStartOffset, start);
                }
                else
                {
                    int keep = FindSegment(segments, offset);
                    LogSegment target = segments[keep];
                    int position;
                    SegmentFiles files = target.Acquire() ?? throw new InvalidOperationException($"Segment {target.BaseOffset} is closed.");
                    try
                    {
                        position = target.FindPosition(files, offset);
                    }
                    finally
                    {
                        files.Release();
                    }

                    if (position == -2)
                    {
                        throw new IOException($"Segment {target.BaseOffset} of {Directory} has an impossible batch length.");
                    }

                    if (position < 0)
                    {
                        position = target.Size;
                    }

                    for (int i = keep + 1; i < segments.Length; i++)
                    {
                        segments[i].Delete();
                    }

                    target.Unseal(); // it becomes the active segment again
                    target.TruncateTo(position);
                    Volatile.Write(ref _segments, segments[..(keep + 1)]);
                }

                long end = _segments![^1].NextOffset;
                Volatile.Write(ref _logEndOffset, end);
                Volatile.Write(ref _logStartOffset, Math.Min(_logStartOffset, end));
                Volatile.Write(ref _recoveryPoint, Math.Min(_recoveryPoint, end));
                Volatile.Write(ref _directoryDirty, true);
                return end;
            }
            catch (Exception e) when (e is IOException and not StorageLimitException or UnauthorizedAccessException)
            {
                throw Fail(e);
            }
        }
    }

    /// <summary>Flushes and closes cleanly: the active segment is sealed (trimmed). An unloaded partition has nothing to close.</summary>
    public void Dispose() => Close(alreadySynced: false);

    /// <summary>
    /// Clean close. <paramref name="alreadySynced"/>: the caller synced the whole file system
    /// (syncfs) after the last append, so the recovery point moves to the end without an fsync here.
    /// </summary>
    internal void Close(bool alreadySynced)
    {
        lock (_appendLock)
        {
            if (_closed)
            {
                return;
            }

            LogSegment[]? segments = _segments;
            IOException? closeFailure = null;
            try
            {
                if (segments is not null && _failure is null)
                {
                    if (alreadySynced)
                    {
                        Volatile.Write(ref _recoveryPoint, _logEndOffset);
                    }
                    else
                    {
                        Flush();
                    }
                }
            }
            finally
            {
                _closed = true;
                foreach (LogSegment segment in segments ?? [])
                {
                    if (_failure is null)
                    {
                        try
                        {
                            segment.Close();
                        }
                        catch (IOException e)
                        {
                            segment.Retire();
                            closeFailure ??= e;
                        }
                    }
                    else
                    {
                        segment.Retire();
                    }
                }
            }

            if (closeFailure is not null)
            {
                throw closeFailure;
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
            foreach (LogSegment segment in _segments ?? [])
            {
                segment.Retire();
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
        for (int i = 0; i < _segments!.Length - 1; i++)
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
        LogSegment active = _segments![^1];
        int capacity = Math.Max(config.SegmentBytes, neededBytes);
        long now = _time.GetTimestamp();
        LogSegment next;
        if (active.IsEmpty)
        {
            // Nothing to seal: the empty segment just takes the larger capacity. Nothing is deleted
            // and nothing created, so nothing can fail half way (M7).
            active.Grow(capacity);
            next = active;
        }
        else
        {
            next = LogSegment.Create(Directory, _logEndOffset, capacity, config, _cache, now);
            active.Seal();
            Volatile.Write(ref _segments, [.. _segments, next]);
            Log.RolledSegment(_logger, Directory, active.BaseOffset, active.Size, _logEndOffset);
            Volatile.Write(ref _directoryDirty, true);
        }

        return next;
    }

    /// <summary>Caller: the append lock. Deletes the <paramref name="count"/> oldest (never the active) segments.</summary>
    private void DeleteOldest(int count)
    {
        LogSegment[] segments = _segments!;
        Volatile.Write(ref _segments, segments[count..]);
        Volatile.Write(ref _logStartOffset, Math.Max(_logStartOffset, segments[count].BaseOffset));
        for (int i = 0; i < count; i++)
        {
            Log.DeletedSegment(_logger, Directory, segments[i].BaseOffset, segments[i].Size);
            segments[i].Delete();
        }

        Volatile.Write(ref _directoryDirty, true);
    }

    /// <summary>Caller: the append lock, partition loaded. A failed partition is reloaded once <see cref="RetryInterval"/> has passed.</summary>
    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (_failure is not null && !(_time.GetElapsedTime(_failedTimestamp) >= RetryInterval && TryReload()))
        {
            throw new IOException($"Partition {Directory} failed earlier and accepts no more writes for now: {_failure.Message}", _failure);
        }
    }

    /// <summary>A partition whose load failed retries it on reads too (not only on writes), once the retry interval has passed.</summary>
    private void RetryFailedLoad()
    {
        lock (_appendLock)
        {
            if (_loadFailed && !_closed && _time.GetElapsedTime(_failedTimestamp) >= RetryInterval)
            {
                _ = TryReload();
            }
        }
    }

    /// <summary>
    /// Caller: the append lock. Reopens the partition from disk after a failure, recovering the
    /// tail of every segment past the recovery point (what a failed write may have left there); on
    /// success the partition accepts writes again. Readers of the old segments keep their leases.
    /// </summary>
    private bool TryReload()
    {
        LogSegment[] old = _segments!;
        LogSegment[] reopened;
        long end;
        try
        {
            reopened = OpenSegments(recoverAll: true, out end);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            _failedTimestamp = FailedAt(e);
            Log.ReloadFailed(_logger, Directory, e.Message);
            return false;
        }

        foreach (LogSegment segment in old)
        {
            segment.Retire();
        }

        long start = _logStartOffset;
        long durable = _recoveryPoint;
        ApplyLoaded(reopened, end);
        // What was appended since the last flush is not durable just because it was re-read.
        Volatile.Write(ref _recoveryPoint, Math.Min(durable, end));
        Volatile.Write(ref _logStartOffset, Math.Clamp(start, reopened[0].BaseOffset, end));
        Volatile.Write(ref _directoryDirty, true);
        _needsRecovery = false;
        _loadFailed = false;
        _failure = null;
        Log.Reloaded(_logger, Directory, end);
        return true;
    }

    /// <summary>
    /// The timestamp a failure counts from: now, or — for a <see cref="StorageLimitException"/>
    /// (no descriptor or mapping free just now, nothing wrong with the partition) — one retry
    /// interval ago, so that the next use tries the load again at once instead of waiting.
    /// </summary>
    private long FailedAt(Exception e)
    {
        long now = _time.GetTimestamp();
        return e is StorageLimitException || (e is IOException io && Posix.IsResourceExhaustion(io)) ? now - (long)(RetryInterval.TotalSeconds * _time.TimestampFrequency) - 1 : now;
    }

    private IOException Fail(Exception e)
    {
        if (_failure is null)
        {
            _failure = e;
            _failedTimestamp = _time.GetTimestamp();
        }

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
            Message = "Partition {Directory} failed (a full disk or an I/O error); it refuses writes and retries after the retry interval")]
        public static partial void PartitionFailed(ILogger logger, Exception exception, string directory);

        [LoggerMessage(EventId = 1005, Level = LogLevel.Debug,
            Message = "Loaded {Directory}: {Segments} segments, offsets {Start}..{End} in {Milliseconds} ms")]
        public static partial void LoadedPartition(ILogger logger, string directory, int segments, long start, long end, double milliseconds);

        [LoggerMessage(EventId = 1006, Level = LogLevel.Error, Message = "Loading {Directory} failed; it refuses writes and retries after the retry interval")]
        public static partial void LoadFailed(ILogger logger, Exception exception, string directory);

        [LoggerMessage(EventId = 1007, Level = LogLevel.Warning, Message = "Reading {Directory} at offset {Offset} failed")]
        public static partial void ReadFailed(ILogger logger, Exception exception, string directory, long offset);

        [LoggerMessage(EventId = 1008, Level = LogLevel.Error,
            Message = "Segment {BaseOffset} of {Directory} has an impossible batch length before offset {Offset}; the read is refused")]
        public static partial void CorruptSegment(ILogger logger, string directory, long baseOffset, long offset);

        [LoggerMessage(EventId = 1009, Level = LogLevel.Warning, Message = "Partition {Directory} is still failed: {Reason}")]
        public static partial void ReloadFailed(ILogger logger, string directory, string reason);

        [LoggerMessage(EventId = 1010, Level = LogLevel.Information, Message = "Partition {Directory} works again (reloaded, log end offset {End})")]
        public static partial void Reloaded(ILogger logger, string directory, long end);

        [LoggerMessage(EventId = 1011, Level = LogLevel.Debug,
            Message = "Reading {Directory} at offset {Offset} refused for now: every open segment (Storage:MaxOpenSegments) is in use")]
        public static partial void ReadLimited(ILogger logger, string directory, long offset);
    }
}

/// <summary>Receives one stored batch during <see cref="PartitionLog.ScanBatches"/>; the span is valid only during the call.</summary>
public delegate void BatchVisitor(in RecordBatchHeader header, ReadOnlySpan<byte> batch);
