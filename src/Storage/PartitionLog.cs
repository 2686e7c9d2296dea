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
    private readonly LeaderEpochCache _epochs;

    private PartitionLog(string directory, LogConfig config, TimeProvider time, ILogger logger, SegmentCache cache,
        bool needsRecovery, long recoveryPoint, long logStartOffset, bool flushRecovered)
    {
        Directory = directory;
        _epochs = new LeaderEpochCache(directory);
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

    /// <summary>The leader epochs of the stored batches and where each starts (loads the partition).</summary>
    public LeaderEpochCache LeaderEpochs
    {
        get
        {
            _ = Segments;
            return _epochs;
        }
    }

    /// <summary>
    /// Where <paramref name="epoch"/> ends in this log, with Kafka's OffsetForLeaderEpoch semantics
    /// (see <see cref="LeaderEpochCache.EndOffsetFor"/>): the next epoch's start offset, or the log end
    /// offset for the latest; the largest known epoch below an unknown one; (-1, -1) when none.
    /// </summary>
    public (int Epoch, long EndOffset) EndOffsetForEpoch(int epoch)
    {
        LeaderEpochCache epochs = LeaderEpochs;
        return epochs.EndOffsetFor(epoch, LogEndOffset);
    }

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

    /// <summary>
    /// Loads the partition if needed (a failed load is retried once its retry interval has passed) and
    /// tells whether its data cannot be read: the load failed, and what stands in for it is an empty
    /// placeholder at the checkpointed log start offset, which must not be served as an empty log (a
    /// consumer would skip data, ListOffsets would answer the wrong end). A later write failure does not
    /// count: the stored data stays readable.
    /// </summary>
    public bool IsUnreadable
    {
        get
        {
            _ = Segments;
            if (!Volatile.Read(ref _loadFailed))
            {
                return false;
            }

            RetryFailedLoad();
            return Volatile.Read(ref _loadFailed);
        }
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
