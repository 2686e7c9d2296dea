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
/// <para>Start: the marker is read, then deleted only after every partition is loaded, so a crash
/// during or after start is always treated as unclean. Without the marker, each partition scans only
/// the segments past its checkpointed recovery point. Close: every partition is flushed and trimmed,
/// the checkpoints are written, and the marker is created and fsynced last.</para>
/// <para>Thread-safety: every public member may be called concurrently.</para>
/// </remarks>
public sealed partial class LogManager : IDisposable
{
    private const string CleanShutdownFile = ".clean-shutdown";
    private const string LockFile = ".lock";
    private const string RecoveryPointFile = "recovery-point-offset-checkpoint";
    private const string LogStartFile = "log-start-offset-checkpoint";
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
        _lastRetentionTimestamp = _lastCheckpointTimestamp = time.GetTimestamp();
    }

    /// <summary>The absolute data directory.</summary>
    public string DataDirectory { get; }

    /// <summary>Whether the previous run closed cleanly (the marker was found at open).</summary>
    public bool WasCleanShutdown { get; }

    /// <summary>The partitions currently open.</summary>
    public ICollection<TopicPartition> Partitions => _logs.Keys;

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

            manager.Checkpoint();
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

    /// <summary>The partition's log, created empty (with <paramref name="config"/> or the defaults) if missing.</summary>
    public PartitionLog GetOrCreate(TopicPartition partition, LogConfig? config = null)
    {
        if (_logs.TryGetValue(partition, out PartitionLog? existing))
        {
            return existing;
        }

        if (!TopicPartition.IsValidTopicName(partition.Topic) || partition.Partition < 0)
        {
            throw new ArgumentException($"'{partition}' is not a valid topic partition.", nameof(partition));
        }

        lock (_lifecycleLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_logs.TryGetValue(partition, out existing))
            {
                return existing;
            }

            PartitionLog log = PartitionLog.Open(Path.Combine(DataDirectory, partition.ToString()), config ?? _options.Log,
                cleanShutdown: true, time: _time, logger: _loggerFactory.CreateLogger<PartitionLog>());
            Posix.FsyncDirectory(DataDirectory);
            _logs[partition] = log;
            return log;
        }
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
                recoveryPoints.Add(new(partition, log.RecoveryPoint));
                logStarts.Add(new(partition, log.LogStartOffset));
            }

            OffsetCheckpointFile.Write(Path.Combine(DataDirectory, RecoveryPointFile), recoveryPoints);
            OffsetCheckpointFile.Write(Path.Combine(DataDirectory, LogStartFile), logStarts);
            _lastCheckpointTimestamp = _time.GetTimestamp();
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
            foreach ((TopicPartition partition, PartitionLog log) in _logs)
            {
                try
                {
                    log.Dispose();
                }
                catch (IOException e)
                {
                    allClean = false;
                    Log.MaintenanceFailed(_logger, e, partition);
                }
            }

            try
            {
                Checkpoint();
                if (allClean)
                {
                    using (var marker = new FileStream(Path.Combine(DataDirectory, CleanShutdownFile), FileMode.Create))
                    {
                        marker.Flush(flushToDisk: true);
                    }

                    Posix.FsyncDirectory(DataDirectory);
                }
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
        foreach (string directory in Directory.EnumerateDirectories(DataDirectory))
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

            long started = _time.GetTimestamp();
            PartitionLog log = PartitionLog.Open(directory, _options.Log, clean,
                recoveryPoints.GetValueOrDefault(partition), logStarts.GetValueOrDefault(partition), _time,
                _loggerFactory.CreateLogger<PartitionLog>());
            _logs[partition] = log;
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                double milliseconds = _time.GetElapsedTime(started).TotalMilliseconds;
                Log.LoadedPartition(_logger, partition, log.LogStartOffset, log.LogEndOffset, milliseconds);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1101, Level = LogLevel.Information,
            Message = "Opened data directory {Directory}: {Partitions} partitions, previous shutdown clean: {Clean}")]
        public static partial void Opened(ILogger logger, string directory, int partitions, bool clean);

        [LoggerMessage(EventId = 1102, Level = LogLevel.Debug,
            Message = "Loaded {Partition}: offsets {Start}..{End} in {Milliseconds} ms")]
        public static partial void LoadedPartition(ILogger logger, TopicPartition partition, long start, long end, double milliseconds);

        [LoggerMessage(EventId = 1103, Level = LogLevel.Warning,
            Message = "Ignoring {Directory}: not a <topic>-<partition> directory")]
        public static partial void UnknownDirectory(ILogger logger, string directory);

        [LoggerMessage(EventId = 1104, Level = LogLevel.Information, Message = "Deleted partition {Partition}")]
        public static partial void DeletedPartition(ILogger logger, TopicPartition partition);

        [LoggerMessage(EventId = 1105, Level = LogLevel.Error, Message = "Storage maintenance failed for {Target}")]
        public static partial void MaintenanceFailed(ILogger logger, Exception exception, object target);
    }
}
