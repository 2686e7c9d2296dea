using System.Collections.Concurrent;
using LogBroker.Storage.Checkpoints;
using LogBroker.Storage.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Storage;

/// <summary>
/// All partition logs of a data directory: loads them at start, creates and deletes them, and runs
/// retention, timed flushes and checkpoints in the background.
/// </summary>
/// <remarks>
/// <para>Layout of <see cref="StorageOptions.DataDirectory"/>:</para>
/// <code>
/// .lock                               held (flock) while open: one broker per directory
/// .clean-shutdown                     present only between a clean close and the next open
/// recovery-point-offset-checkpoint    per partition: every offset below it was fsynced
/// log-start-offset-checkpoint         per partition: first readable offset (DeleteRecords, retention)
/// &lt;topic&gt;-&lt;partition&gt;/              segments of one partition (see PartitionLog)
/// </code>
/// .reserved-space                     allocated zeros, given back to metadata writes on a full disk
/// recovery-pending                    partitions not yet recovered since an unclean shutdown (read only with the marker)
/// <para>Start: the partition directories are listed and each becomes a <see cref="PartitionLog"/>
/// that loads on first use (no file opened, no segment scanned at start; see PartitionLog). The
/// marker is read, then deleted, so a crash during or after start is always treated as unclean.
/// Without the marker, the whole file system is synced once (syncfs: what the crashed process left
/// in the page cache becomes durable) and every partition recovers, when first used, the segments
/// past its checkpointed recovery point. Close: syncfs once (falling back to an fsync per partition),
/// every loaded partition sealed, the checkpoints written, the partitions still waiting for recovery
/// listed in <c>recovery-pending</c>, and the marker created and fsynced last.</para>
/// <para>Resources: open segment files across all partitions are bounded by
/// <see cref="StorageOptions.MaxOpenSegments"/> (an LRU); an idle partition costs no descriptor and
/// no mapping. Creating partitions costs a directory each and one fsync of the data directory per
/// <see cref="CreateMany"/> call.</para>
/// <para>Thread-safety: every public member may be called concurrently.</para>
/// </remarks>
public sealed partial class LogManager : IDisposable
{
    private const string CleanShutdownFile = ".clean-shutdown";
    private const string LockFile = ".lock";
    private const string RecoveryPointFile = "recovery-point-offset-checkpoint";
    private const string LogStartFile = "log-start-offset-checkpoint";
    private const string HighWatermarkFile = "replication-offset-checkpoint";
    private const string RecoveryPendingFile = "recovery-pending";
    private const string DeletedSuffix = "-delete";
    private const int MaxFileNameBytes = 255; // NAME_MAX; topic names are ASCII

    private readonly ConcurrentDictionary<TopicPartition, PartitionLog> _logs = new();
    private readonly Lock _lifecycleLock = new();
    private readonly Lock _checkpointLock = new();
    private readonly StorageOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly FileStream _directoryLock;
    private readonly SegmentCache _cache;
    private bool _syncedAtStart;
    private long _lastRetentionTimestamp;
    private long _lastCheckpointTimestamp;
    private bool _disposed;

    private LogManager(StorageOptions options, TimeProvider time, ILoggerFactory loggerFactory, FileStream directoryLock, bool cleanShutdown)
    {
        _options = options;
        _time = time;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<LogManager>();
        _directoryLock = directoryLock;
        WasCleanShutdown = cleanShutdown;
        DataDirectory = Path.GetFullPath(options.DataDirectory);
        MappedFile.LoadDependencies();
        long? openFileLimit = Posix.OpenFileLimit();
        long? maxMapCount = Posix.MaxMapCount();
        _cache = SegmentCache.Create(options.MaxOpenSegments, openFileLimit, maxMapCount);
        if (_cache.MaxOpen < options.MaxOpenSegments)
        {
            Log.MaxOpenSegmentsClamped(_logger, options.MaxOpenSegments, _cache.MaxOpen, openFileLimit ?? -1, maxMapCount ?? -1);
        }
        _lastRetentionTimestamp = _lastCheckpointTimestamp = time.GetTimestamp();
    }

    /// <summary>The absolute data directory.</summary>
    public string DataDirectory { get; }

    /// <summary>Whether the previous run closed cleanly (the marker was found at open).</summary>
    public bool WasCleanShutdown { get; }

    /// <summary>The partitions currently open.</summary>
    public ICollection<TopicPartition> Partitions => _logs.Keys;

    /// <summary>Segments whose files are open now (at most <see cref="MaxOpenSegments"/>).</summary>
    public int OpenSegments => _cache.Live;

    /// <summary>
    /// The bound on open segments in force: <see cref="StorageOptions.MaxOpenSegments"/>, lowered at
    /// open when one descriptor and three mappings per segment would not fit well below the
    /// process's RLIMIT_NOFILE or vm.max_map_count (a warning says so).
    /// </summary>
    public int MaxOpenSegments => _cache.MaxOpen;

    /// <summary>Index descriptors writers may hold between appends (the descriptors the open logs leave; see <see cref="SegmentCache.IndexDescriptorBudget"/>).</summary>
    public int IndexDescriptorBudget => _cache.IndexDescriptorBudget;

    /// <summary>The fault seam of this data directory's segment files (tests only; see <see cref="StorageFaults"/>).</summary>
    internal StorageFaults Faults => _cache.Faults;

    /// <summary>How often an open or a mapping hit the process's limit and idle segments were closed to make room.</summary>
    public long OpenFileLimitReliefs => _cache.Reliefs;

    /// <summary>Opens the data directory (creating it) and loads every partition in it.</summary>
    /// <exception cref="IOException">Another process holds the directory, or loading failed.</exception>
    public static LogManager Open(StorageOptions options, TimeProvider? time = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        time ??= TimeProvider.System;
        loggerFactory ??= NullLoggerFactory.Instance;
        string root = Path.GetFullPath(options.DataDirectory);
        Directory.CreateDirectory(root);

        FileStream directoryLock;
        try
        {
            directoryLock = new FileStream(Path.Combine(root, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new IOException($"The data directory {root} is in use by another process.", e);
        }

        ReservedSpace.Ensure(root, options.ReservedSpaceBytes);
        string marker = Path.Combine(root, CleanShutdownFile);
        bool clean = File.Exists(marker);
        var manager = new LogManager(options, time, loggerFactory, directoryLock, clean);
        try
        {
            manager.LoadAll(clean);
            if (clean)
            {
                File.Delete(marker);
            }

            try
            {
                manager.Checkpoint();
            }
            catch (IOException e)
            {
                // A full disk must not stop the start: the previous checkpoints stay valid.
                Log.MaintenanceFailed(manager._logger, e, root);
            }
            Log.Opened(manager._logger, root, manager._logs.Count, clean);
            return manager;
        }
        catch
        {
            foreach (PartitionLog log in manager._logs.Values)
            {
                log.Abandon();
            }

            directoryLock.Dispose();
            throw;
        }
    }

    /// <summary>The partition's log, or null when it does not exist.</summary>
    public PartitionLog? Get(TopicPartition partition) => _logs.GetValueOrDefault(partition);

    /// <summary>
    /// The partition's log, created empty (with <paramref name="config"/> or the defaults) if missing:
    /// a directory, nothing else. The data directory is fsynced by the partition's first flush (or any
    /// earlier fsync of the data directory, such as the topic metadata's), not here.
    /// </summary>
    public PartitionLog GetOrCreate(TopicPartition partition, LogConfig? config = null)
    {
        if (_logs.TryGetValue(partition, out PartitionLog? existing))
        {
            return existing;
        }

        return Create([partition], config, syncNow: false)[0];
    }

    /// <summary>
    /// The logs of <paramref name="partitions"/>, creating the missing ones empty (with
    /// <paramref name="config"/> or the defaults): a directory each, then one fsync of the data
    /// directory for all of them. Nothing is opened; each loads on first use.
    /// </summary>
    /// <exception cref="ArgumentException">A name is not a valid topic partition.</exception>
    /// <exception cref="IOException">A directory could not be made (those made before stay, empty).</exception>
    public IReadOnlyList<PartitionLog> CreateMany(IReadOnlyList<TopicPartition> partitions, LogConfig? config = null) =>
        Create(partitions, config, syncNow: true);

    private PartitionLog[] Create(IReadOnlyList<TopicPartition> partitions, LogConfig? config, bool syncNow)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        foreach (TopicPartition partition in partitions)
        {
            if (!TopicPartition.IsValidTopicName(partition.Topic) || partition.Partition < 0)
            {
                throw new ArgumentException($"'{partition}' is not a valid topic partition.", nameof(partitions));
            }
        }

        var logs = new PartitionLog[partitions.Count];
        lock (_lifecycleLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            bool created = false;
            try
            {
                for (int i = 0; i < partitions.Count; i++)
                {
                    if (_logs.TryGetValue(partitions[i], out PartitionLog? existing))
                    {
                        logs[i] = existing;
                        continue;
                    }

                    string directory = Path.Combine(DataDirectory, partitions[i].ToString());
                    Directory.CreateDirectory(directory);
                    created = true;
                    PartitionLog log = NewLog(directory, config ?? _options.Log, needsRecovery: false, 0, 0);
                    log.ParentDirectoryDirty = !syncNow;
                    _logs[partitions[i]] = log;
                    logs[i] = log;
                }
            }
            finally
            {
                if (created && syncNow)
                {
                    Posix.FsyncDirectory(DataDirectory);
                }
            }
        }

        return logs;
    }

    private PartitionLog NewLog(string directory, LogConfig config, bool needsRecovery, long recoveryPoint, long logStartOffset)
    {
        PartitionLog log = PartitionLog.OpenLazily(directory, config, needsRecovery, recoveryPoint, logStartOffset, _time,
            _loggerFactory.CreateLogger<PartitionLog>(), _cache, flushRecovered: !_syncedAtStart);
        log.RetryInterval = _options.FailedPartitionRetryInterval;
        return log;
    }

    /// <summary>
    /// Deletes the partition: it disappears at once; its directory is renamed aside and removed.
    /// Readers holding slices keep them until they dispose them. False when it did not exist.
    /// </summary>
    /// <exception cref="IOException">The directory could be neither renamed aside nor removed.</exception>
    public bool Delete(TopicPartition partition) => DeleteAll([partition]) == 1;

    /// <summary>
    /// Deletes the partitions that exist of <paramref name="partitions"/>: each disappears at once and
    /// its directory is renamed to <c>&lt;topic prefix&gt;-&lt;partition&gt;.&lt;uuid&gt;-delete</c> (the prefix
    /// shortened so that the name fits NAME_MAX, as Kafka does), with one directory fsync for all; then
    /// the renamed directories are removed, outside the lifecycle lock. A crash leaves only
    /// <c>-delete</c> directories, which the next open removes. Returns how many existed.
    /// </summary>
    /// <exception cref="IOException">Some directory could be neither renamed aside nor removed (the others are gone).</exception>
    public int DeleteAll(IReadOnlyCollection<TopicPartition> partitions)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        var aside = new List<string>(partitions.Count);
        var failures = new List<Exception>();
        int deleted = 0;
        lock (_lifecycleLock)
        {
            foreach (TopicPartition partition in partitions)
            {
                if (!_logs.TryRemove(partition, out PartitionLog? log))
                {
                    continue;
                }

                deleted++;
                log.Abandon();
                string target = Path.Combine(DataDirectory, DeletedDirectoryName(partition));
                try
                {
                    Directory.Move(log.Directory, target);
                    aside.Add(target);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    try
                    {
                        Directory.Delete(log.Directory, recursive: true); // not renamed: never leave it where a new log would find it
                    }
                    catch (Exception inner) when (inner is IOException or UnauthorizedAccessException)
                    {
                        failures.Add(inner);
                    }
                }

                Log.DeletedPartition(_logger, partition);
            }

            if (deleted > 0)
            {
                Posix.FsyncDirectory(DataDirectory);
            }
        }

        foreach (string directory in aside)
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Log.MaintenanceFailed(_logger, e, directory); // renamed aside: the next open removes it
            }
        }

        return failures.Count == 0 ? deleted
            : throw new IOException($"{failures.Count} partition directories could not be deleted: {failures[0].Message}", failures[0]);
    }

    /// <summary>Kafka's <c>logDeleteDirName</c>: <c>&lt;topic prefix&gt;-&lt;partition&gt;.&lt;uuid&gt;-delete</c>, at most 255 bytes.</summary>
    internal static string DeletedDirectoryName(TopicPartition partition)
    {
        string suffix = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"-{partition.Partition}.{Guid.NewGuid():N}{DeletedSuffix}");
        int prefix = Math.Min(partition.Topic.Length, MaxFileNameBytes - suffix.Length);
        return string.Concat(partition.Topic.AsSpan(0, prefix), suffix);
    }

    /// <summary>
    /// One maintenance pass: timed flushes always; retention and checkpoints when their intervals
    /// have passed (or when <paramref name="force"/>). A failing partition is logged and skipped.
    /// </summary>
    public void RunMaintenance(bool force = false)
    {
        bool retention = force || _time.GetElapsedTime(_lastRetentionTimestamp) >= _options.RetentionCheckInterval;
        foreach ((TopicPartition partition, PartitionLog log) in _logs)
        {
            try
            {
                log.FlushIfDue();
                if (retention)
                {
                    log.ApplyRetention();
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                Log.MaintenanceFailed(_logger, e, partition);
            }
        }

        if (retention)
        {
            _lastRetentionTimestamp = _time.GetTimestamp();
        }

        if (force || _time.GetElapsedTime(_lastCheckpointTimestamp) >= _options.CheckpointInterval)
        {
            ReservedSpace.Ensure(DataDirectory, _options.ReservedSpaceBytes); // refilled once space is back
            Checkpoint();
        }
    }

    /// <summary>Runs <see cref="RunMaintenance"/> every <see cref="StorageOptions.FlushCheckInterval"/> until cancelled.</summary>
    public async Task RunMaintenanceAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.FlushCheckInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    RunMaintenance();
                }
                catch (IOException e)
                {
                    Log.MaintenanceFailed(_logger, e, DataDirectory);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Writes the recovery-point and log-start-offset checkpoint files now.</summary>
    public void Checkpoint()
    {
        lock (_checkpointLock)
        {
            var recoveryPoints = new List<KeyValuePair<TopicPartition, long>>(_logs.Count);
            var logStarts = new List<KeyValuePair<TopicPartition, long>>(_logs.Count);
            foreach ((TopicPartition partition, PartitionLog log) in _logs)
            {
                recoveryPoints.Add(new(partition, log.CheckpointRecoveryPoint));
                logStarts.Add(new(partition, log.CheckpointLogStartOffset));
            }

            OffsetCheckpointFile.Write(Path.Combine(DataDirectory, RecoveryPointFile), recoveryPoints);
            OffsetCheckpointFile.Write(Path.Combine(DataDirectory, LogStartFile), logStarts);
            CheckpointHighWatermarks();
            _lastCheckpointTimestamp = _time.GetTimestamp();
        }
    }

    /// <summary>
    /// Caller: the checkpoint lock. Kafka's replication-offset-checkpoint: the high watermark of each replicated
    /// partition, so that a restarted broker does not show consumers less, or more, than the ISR had. Single-node
    /// partitions have none, and then no file is written at all.
    /// </summary>
    private void CheckpointHighWatermarks()
    {
        string path = Path.Combine(DataDirectory, HighWatermarkFile);
        List<KeyValuePair<TopicPartition, long>>? marks = null;
        foreach ((TopicPartition partition, PartitionLog log) in _logs)
        {
            if (log.CheckpointHighWatermark is >= 0 and long mark)
            {
                (marks ??= []).Add(new(partition, mark));
            }
        }

        if (marks is not null || File.Exists(path))
        {
            OffsetCheckpointFile.Write(path, marks ?? []);
        }
    }

    /// <summary>Clean close: flush and trim every partition, write checkpoints, then the clean-shutdown marker.</summary>
    public void Dispose()
    {
        lock (_lifecycleLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            bool allClean = true;
            bool synced = false;
            try
            {
                // One syncfs makes every partition durable at once: a per-partition fsync costs two
                // or more disk flushes each, minutes for tens of thousands of partitions.
                synced = Posix.TrySyncFileSystem(DataDirectory);
            }
            catch (IOException e)
            {
                Log.MaintenanceFailed(_logger, e, DataDirectory); // fall back to an fsync per partition
            }

            var pending = new List<KeyValuePair<TopicPartition, long>>();
            foreach ((TopicPartition partition, PartitionLog log) in _logs)
            {
                try
                {
                    if (log.PendingRecovery)
                    {
                        pending.Add(new(partition, 0));
                    }

                    log.Close(synced);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
                {
                    allClean = false;
                    Log.MaintenanceFailed(_logger, e, partition);
                }
            }

            try
            {
                if (synced)
                {
                    _ = Posix.TrySyncFileSystem(DataDirectory); // the seals' trims and last time-index entries
                }

                Checkpoint();
                OffsetCheckpointFile.Write(Path.Combine(DataDirectory, RecoveryPendingFile), pending);
                if (allClean)
                {
                    AtomicFile.Write(Path.Combine(DataDirectory, CleanShutdownFile), []);
                }
            }
            catch (IOException e)
            {
                // A full disk: no marker, so the next start recovers; nothing written here is needed for data safety.
                Log.MaintenanceFailed(_logger, e, DataDirectory);
            }
            finally
            {
                _logs.Clear();
                _directoryLock.Dispose();
            }
        }
    }

    /// <summary>
    /// Closes every partition the way a crash would (no flush, no trim, no marker, no checkpoint).
    /// For crash tests.
    /// </summary>
    internal void Abandon()
    {
        lock (_lifecycleLock)
        {
            _disposed = true;
            foreach (PartitionLog log in _logs.Values)
            {
                log.Abandon();
            }

            _logs.Clear();
            _directoryLock.Dispose();
        }
    }

    private void LoadAll(bool clean)
    {
        Dictionary<TopicPartition, long> recoveryPoints = OffsetCheckpointFile.Read(Path.Combine(DataDirectory, RecoveryPointFile)) ?? [];
        Dictionary<TopicPartition, long> logStarts = OffsetCheckpointFile.Read(Path.Combine(DataDirectory, LogStartFile)) ?? [];
        Dictionary<TopicPartition, long> highWatermarks = OffsetCheckpointFile.Read(Path.Combine(DataDirectory, HighWatermarkFile)) ?? [];
        // After a clean close, only the partitions listed as still pending need recovery. The list
        // is written before the marker, so with a marker it is there, unless an older version wrote
        // the marker (it loaded everything: nothing pending). An unreadable list: recover everything.
        string pendingPath = Path.Combine(DataDirectory, RecoveryPendingFile);
        Dictionary<TopicPartition, long>? pending = clean
            ? (File.Exists(pendingPath) ? OffsetCheckpointFile.Read(pendingPath) : [])
            : null;
        bool recoverAll = pending is null;
        string[] directories = Directory.GetDirectories(DataDirectory);
        if (recoverAll && !clean && directories.Length > 0)
        {
            try
            {
                // What the crashed process left in the page cache becomes durable in one call, so the
                // lazy recovery of each partition needs no fsync of its own.
                _syncedAtStart = Posix.TrySyncFileSystem(DataDirectory);
            }
            catch (IOException e)
            {
                Log.MaintenanceFailed(_logger, e, DataDirectory);
            }
        }

        foreach (string directory in directories)
        {
            string name = Path.GetFileName(directory);
            if (name.EndsWith(DeletedSuffix, StringComparison.Ordinal))
            {
                Directory.Delete(directory, recursive: true); // a delete interrupted by a crash
                continue;
            }

            if (!TopicPartition.TryParseDirectoryName(name, out TopicPartition partition))
            {
                Log.UnknownDirectory(_logger, directory);
                continue;
            }

            _logs[partition] = NewLog(directory, _options.Log, needsRecovery: recoverAll || pending!.ContainsKey(partition),
                recoveryPoints.GetValueOrDefault(partition), logStarts.GetValueOrDefault(partition));
            if (highWatermarks.TryGetValue(partition, out long highWatermark))
            {
                _logs[partition].InitialHighWatermark = highWatermark;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1101, Level = LogLevel.Information,
            Message = "Opened data directory {Directory}: {Partitions} partitions, previous shutdown clean: {Clean}")]
        public static partial void Opened(ILogger logger, string directory, int partitions, bool clean);

        [LoggerMessage(EventId = 1103, Level = LogLevel.Warning,
            Message = "Ignoring {Directory}: not a <topic>-<partition> directory")]
        public static partial void UnknownDirectory(ILogger logger, string directory);

        [LoggerMessage(EventId = 1104, Level = LogLevel.Information, Message = "Deleted partition {Partition}")]
        public static partial void DeletedPartition(ILogger logger, TopicPartition partition);

        [LoggerMessage(EventId = 1106, Level = LogLevel.Warning,
            Message = "Storage:MaxOpenSegments {Configured} lowered to {Effective}: each open segment may take 1 descriptor (its log's) and 3 mappings, and the process allows {OpenFileLimit} descriptors (ulimit -n) and {MaxMapCount} mappings (vm.max_map_count); raise those to allow more")]
        public static partial void MaxOpenSegmentsClamped(ILogger logger, int configured, int effective, long openFileLimit, long maxMapCount);

        [LoggerMessage(EventId = 1105, Level = LogLevel.Error, Message = "Storage maintenance failed for {Target}")]
        public static partial void MaintenanceFailed(ILogger logger, Exception exception, object target);
    }
}
