using System.Text;
using LogBroker.Protocol;
using LogBroker.Protocol.Records;
using LogBroker.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Broker.Groups;

/// <summary>
/// Committed offsets kept in an internal partition, <c>__consumer_offsets-0</c>, appended before a
/// commit is acknowledged and replayed at start (single node). In cluster mode one instance runs over each
/// replicated partition of <c>__consumer_offsets</c> this broker leads (Cluster/ReplicatedOffsetStore).
/// </summary>
/// <remarks>
/// <para><b>What a commit survives.</b> An appended commit is in the page cache: it survives a crash of
/// the broker process (kill -9). It survives power loss or a kernel crash once
/// <see cref="WhenDurableAsync"/> has completed for its position (an fsync of the partition; the
/// OffsetCommit handler waits for it when <c>Broker:FlushOnAcksAll</c> is on). Concurrent waiters share
/// one fsync, run by a single flusher task: no thread blocks per waiter. Deletions (DeleteGroups,
/// OffsetDelete, expiry) are not waited for.</para>
/// <para>Record format: Kafka's own (<see cref="OffsetRecords"/>): one OffsetCommit record (key v1,
/// value v3) per partition committed, a batch per commit request, a tombstone per deleted or expired
/// offset; one GroupMetadata record (key v2, value v3) each time a classic group settles or empties, a
/// tombstone when it goes. Strings longer than 32767 bytes are refused before anything is written
/// (<see cref="OffsetStoreException"/>), so every acknowledged commit loads again.
/// A commit whose batch would exceed the partition's 16 MiB limit is refused whole
/// (INVALID_COMMIT_OFFSET_SIZE, as Kafka maps RECORD_LIST_TOO_LARGE).</para>
/// <para>Bounded: when the log has grown past the compaction threshold (32 MiB) since the last
/// compaction, every live entry is written again as a snapshot, in batches of about 1 MiB, the snapshot
/// is fsynced (segments and directory), and only then is everything before it deleted
/// (DeleteRecordsBefore drops whole 4 MiB segments). So the log stays near the size of the live
/// offsets plus one threshold, and a power loss at any point leaves either the old entries or the
/// durable snapshot. A failed compaction is logged and retried after another threshold of growth; it
/// never fails the commit that triggered it.</para>
/// <para>Conversion: a data directory written before these schemas (LogBroker's own key/value layout)
/// is converted on the first start: the log is rolled, the offset where Kafka-format records begin is
/// recorded durably in <c>__consumer_offsets.format</c> in the data directory, the live entries are
/// written again in Kafka's schemas and fsynced, and only then is everything before that offset
/// deleted. A crash at any point leaves a log that loads: records below the recorded offset are read
/// in the old layout, the others in Kafka's.</para>
/// <para>In memory, <see cref="_live"/> changes only after its batch was written.</para>
/// <para>Thread-safety: one lock around append and compaction; the flusher has its own.</para>
/// </remarks>
internal sealed partial class OffsetLog : IOffsetStore
{
    public const string Topic = "__consumer_offsets";

    /// <summary>Largest batch the internal partition accepts.</summary>
    public const int MaxBatchBytes = 16 * 1024 * 1024;

    /// <summary>Record framing beyond key and value bytes, at most (varints, attributes, header count).</summary>
    private const int RecordOverhead = 32;

    private readonly PartitionLog _log;
    private readonly long _compactAfterBytes;
    private readonly int _snapshotChunkBytes;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Group, string Topic, int Partition), CommittedOffset> _live = [];
    private readonly Dictionary<string, byte[]> _groupMetadata = new(StringComparer.Ordinal);
    private readonly string? _formatFile;
    private readonly LogConfig _config;
    private readonly Action? _afterAppend;
    private long _deleteBefore = -1;
    private long _deleteOnceReplicatedTo;
    private readonly Lock _waitersLock = new();
    private List<(long Position, TaskCompletionSource Done)> _waiters = [];
    private bool _flushing;
    private long _sizeAtCompaction;

    /// <param name="logs">Where the internal partition lives.</param>
    /// <param name="compactAfterBytes">Growth since the last compaction that triggers the next one (32 MiB; smaller in tests).</param>
    /// <param name="segmentBytes">Segment size of the internal partition (4 MiB): the unit in which old commits are dropped.</param>
    /// <param name="snapshotChunkBytes">Record bytes per snapshot batch (1 MiB), far below <see cref="MaxBatchBytes"/>.</param>
    /// <param name="logger">Where failed compactions and flushes are reported.</param>
    public OffsetLog(LogManager logs, long compactAfterBytes = 32L * 1024 * 1024, int segmentBytes = 4 * 1024 * 1024,
        int snapshotChunkBytes = 1024 * 1024, ILogger<OffsetLog>? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(snapshotChunkBytes, MaxBatchBytes / 2);
        _compactAfterBytes = compactAfterBytes;
        _snapshotChunkBytes = snapshotChunkBytes;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        LogConfig config = PartitionConfig(segmentBytes);
        _log = logs.GetOrCreate(new TopicPartition(Topic, 0), config);
        _log.UpdateConfig(config);
        _config = config;
        _formatFile = Path.Combine(logs.DataDirectory, FormatFileName);
    }

    /// <summary>
    /// The offset log over one replicated partition of <c>__consumer_offsets</c>, while this broker leads it (cluster
    /// mode). Its records are Kafka's from the start (no format file, no conversion). <paramref name="afterAppend"/>
    /// runs after each append (the leader advances its high watermark). A compaction deletes the entries its
    /// snapshot replaces only once the high watermark has passed the snapshot: deleting them before the ISR has
    /// it could leave a new leader with neither.
    /// </summary>
    internal OffsetLog(PartitionLog log, Action afterAppend, long compactAfterBytes, int snapshotChunkBytes, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(snapshotChunkBytes, MaxBatchBytes / 2);
        _log = log;
        _config = log.Config;
        _afterAppend = afterAppend;
        _compactAfterBytes = compactAfterBytes;
        _snapshotChunkBytes = snapshotChunkBytes;
        _logger = logger;
    }

    /// <summary>The config of a partition of <c>__consumer_offsets</c> (4 MiB segments, kept until compacted away, 16 MiB batches).</summary>
    public static LogConfig PartitionConfig(int segmentBytes = 4 * 1024 * 1024) => LogConfig.Default with
    {
        SegmentBytes = segmentBytes,
        RetentionTime = null,
        RetentionBytes = null,
        MaxMessageBytes = MaxBatchBytes,
    };

    /// <summary>Name of the file (in the data directory) that records where Kafka-format records begin.</summary>
    public const string FormatFileName = "__consumer_offsets.format";

    /// <summary>The internal partition (Fetch and ListOffsets read it like any other).</summary>
    internal PartitionLog Partition => _log;

    /// <summary>
    /// The internal partition as a topic clients can read (Metadata lists it with is_internal, Fetch
    /// and ListOffsets serve it). Its id is derived from the cluster id, so it stays the same across
    /// restarts.
    /// </summary>
    internal Metadata.Topic AsTopic(string clusterId) =>
        new(Topic, new Guid(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(Topic + "/" + clusterId)).AsSpan(0, 16)), _config,
            new Dictionary<string, string>(StringComparer.Ordinal), [_log]);

    /// <summary>Whether the last <see cref="Load"/> converted a log of the old layout.</summary>
    internal bool Converted { get; private set; }

    /// <summary>Bytes the internal partition holds now (for tests and metrics).</summary>
    public long Size => _log.Size;

    /// <summary>The internal partition's log end offset: the position the next commit ends after.</summary>
    internal long LogEndOffset => _log.LogEndOffset;

    /// <summary>Offsets below this are fsynced.</summary>
    internal long RecoveryPoint => _log.RecoveryPoint;

    /// <summary>Compactions completed (for tests).</summary>
    internal int Compactions { get; private set; }

    /// <summary>Test seam: runs inside a compaction after the snapshot is written, just before the entries it replaces are deleted.</summary>
    internal Action? BeforeReplacedDeleted { get; set; }

    public IEnumerable<(string Group, string Topic, int Partition, CommittedOffset Offset)> Load()
    {
        lock (_lock)
        {
            _live.Clear();
            _groupMetadata.Clear();
            long kafkaFrom = ReadFormat();
            bool convert = kafkaFrom < 0 && _log.LogEndOffset > _log.LogStartOffset;
            if (kafkaFrom < 0 && !convert)
            {
                kafkaFrom = _log.LogEndOffset;
                WriteFormat(kafkaFrom); // a new log: Kafka's schemas from the start
            }

            _log.ScanBatches(0, (in RecordBatchHeader header, ReadOnlySpan<byte> batch) =>
            {
                bool legacy = convert || header.BaseOffset < kafkaFrom;
                var records = new RecordReader(batch[RecordBatch.HeaderSize..]);
                while (records.TryRead(out RecordView record))
                {
                    if (legacy)
                    {
                        ApplyLegacy(record);
                    }
                    else
                    {
                        Apply(record);
                    }
                }
            });

            if (convert)
            {
                _log.Roll();
                long start = _log.LogEndOffset;
                WriteFormat(start);
                WriteSnapshot();
                _log.Flush();
                _log.DeleteRecordsBefore(start);
                Converted = true;
            }

            _sizeAtCompaction = _log.Size;
            return [.. _live.Select(e => (e.Key.Group, e.Key.Topic, e.Key.Partition, e.Value))];
        }
    }

    /// <summary>
    /// The classic groups' states as last recorded (after <see cref="Load"/>), each read as Kafka's GroupMetadata value;
    /// one that does not read is left out (and stays in the log).
    /// </summary>
    public List<(string Group, GroupMetadataRecord State)> Groups()
    {
        lock (_lock)
        {
            var groups = new List<(string, GroupMetadataRecord)>(_groupMetadata.Count);
            foreach ((string group, byte[] value) in _groupMetadata)
            {
                if (OffsetRecords.TryReadGroupMetadataValue(value, out GroupMetadataRecord? state))
                {
                    groups.Add((group, state!));
                }
            }

            return groups;
        }
    }

    public long Append(string group, IReadOnlyList<(string Topic, int Partition, CommittedOffset? Offset)> changes)
    {
        lock (_lock)
        {
            if (changes.Count == 0)
            {
                return _log.LogEndOffset;
            }

            DeleteReplacedOnceReplicated();

            var builder = new RecordBatchBuilder();
            long bytes = RecordBatch.HeaderSize;
            foreach ((string topic, int partition, CommittedOffset? offset) in changes)
            {
                bytes += AddOffset(builder, group, topic, partition, offset);
                if (bytes > MaxBatchBytes)
                {
                    throw new OffsetStoreException(ErrorCode.InvalidCommitOffsetSize,
                        $"The commit would make a batch over {MaxBatchBytes} bytes.");
                }
            }

            Write(builder); // throws before anything below changes
            foreach ((string topic, int partition, CommittedOffset? offset) in changes)
            {
                if (offset is null)
                {
                    _live.Remove((group, topic, partition));
                }
                else
                {
                    _live[(group, topic, partition)] = offset;
                }
            }

            long position = _log.LogEndOffset;
            if (_log.Size - _sizeAtCompaction > _compactAfterBytes)
            {
                try
                {
                    Compact();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // The commit is stored; the old entries stay until a later compaction succeeds.
                    _sizeAtCompaction = _log.Size;
                    Log.CompactionFailed(_logger, e, _live.Count);
                }
            }

            return position;
        }
    }

    OffsetPosition IOffsetStore.Append(string group, IReadOnlyList<(string Topic, int Partition, CommittedOffset? Offset)> changes) =>
        new(Append(group, changes));

    Task IOffsetStore.WhenDurableAsync(OffsetPosition position) => WhenDurableAsync(position.Offset);

    IEnumerable<(string Group, GroupMetadataRecord State)> IOffsetStore.LoadedGroups() => Groups();

    /// <summary>
    /// Completes once every entry below <paramref name="position"/> (a value <see cref="Append"/>
    /// returned) is fsynced; faults when the flush fails. Concurrent callers share one fsync.
    /// </summary>
    public Task WhenDurableAsync(long position)
    {
        if (_log.RecoveryPoint >= position)
        {
            return Task.CompletedTask;
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool start;
        lock (_waitersLock)
        {
            _waiters.Add((position, done));
            start = !_flushing;
            _flushing = true;
        }

        if (start)
        {
            _ = Task.Run(FlushWaiters);
        }

        return done.Task;
    }

    /// <summary>The one flusher: each round fsyncs everything appended so far and releases every waiter registered before it.</summary>
    private void FlushWaiters()
    {
        while (true)
        {
            List<(long Position, TaskCompletionSource Done)> round;
            lock (_waitersLock)
            {
                if (_waiters.Count == 0)
                {
                    _flushing = false;
                    return;
                }

                round = _waiters;
                _waiters = [];
            }

            try
            {
                _log.Flush();
                foreach ((long _, TaskCompletionSource done) in round)
                {
                    done.TrySetResult();
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
            {
                Log.FlushFailed(_logger, e);
                foreach ((long _, TaskCompletionSource done) in round)
                {
                    done.TrySetException(e);
                }
            }
        }
    }

    private void Compact()
    {
        long snapshotStart = _log.LogEndOffset;
        WriteSnapshot();
        if (_afterAppend is not null)
        {
            // Replicated: the replaced entries go once the ISR has the snapshot (DeleteReplacedOnceReplicated).
            _deleteBefore = snapshotStart;
            _deleteOnceReplicatedTo = _log.LogEndOffset;
            _log.Roll();
            _sizeAtCompaction = _log.Size;
            Compactions++;
            return;
        }

        // The snapshot (and the directory entries of segments it rolled into) must be durable before
        // the segments it replaces are unlinked, or a power loss can leave neither.
        _log.Flush();
        BeforeReplacedDeleted?.Invoke();
        _log.DeleteRecordsBefore(snapshotStart);
        _log.Roll(); // the snapshot's segment becomes deletable by the next compaction
        _sizeAtCompaction = _log.Size;
        Compactions++;
    }

    private void Write(RecordBatchBuilder builder)
    {
        AppendResult result = _log.Append(builder.ToArray());
        if (result.Status != AppendStatus.Success)
        {
            throw new IOException($"Could not store committed offsets: {result.Status}.");
        }

        _afterAppend?.Invoke();
    }

    /// <summary>Caller: the lock. Replicated: once the high watermark is past the last snapshot, what it replaced is deleted (fsynced first).</summary>
    private void DeleteReplacedOnceReplicated()
    {
        if (_deleteBefore < 0 || _log.HighWatermark < _deleteOnceReplicatedTo)
        {
            return;
        }

        try
        {
            _log.Flush();
            BeforeReplacedDeleted?.Invoke();
            _log.DeleteRecordsBefore(_deleteBefore);
            _deleteBefore = -1;
            _sizeAtCompaction = _log.Size;
        }
        catch (IOException e)
        {
            Log.CompactionFailed(_logger, e, _live.Count); // kept; tried again at the next commit
        }
    }

    /// <summary>Writes every live entry again (offsets, then classic groups), in batches of about the snapshot chunk size.</summary>
    private void WriteSnapshot()
    {
        var builder = new RecordBatchBuilder();
        long bytes = 0;
        void Flush()
        {
            if (bytes >= _snapshotChunkBytes)
            {
                Write(builder);
                builder = new RecordBatchBuilder();
                bytes = 0;
            }
        }

        foreach (((string group, string topic, int partition), CommittedOffset offset) in _live)
        {
            bytes += AddOffset(builder, group, topic, partition, offset);
            Flush();
        }

        foreach ((string group, byte[] value) in _groupMetadata)
        {
            byte[] key = OffsetRecords.GroupMetadataKey(group);
            builder.Add(0, key, value);
            bytes += key.Length + value.Length + RecordOverhead;
            Flush();
        }

        if (builder.Count > 0)
        {
            Write(builder);
        }
    }

    /// <summary>
    /// Records a classic group's state (a GroupMetadata record), or with null its removal (a
    /// tombstone). Not waited for: tools read the group state from the log, and the coordinator rebuilds
    /// the group from it (<see cref="Groups"/>) after a restart or, in cluster mode, when it takes the partition over.
    /// </summary>
    public void AppendGroup(string group, GroupMetadataRecord? state, long timestampMs)
    {
        lock (_lock)
        {
            if (state is null && !_groupMetadata.ContainsKey(group))
            {
                return; // nothing recorded: no tombstone needed
            }

            byte[] key = OffsetRecords.GroupMetadataKey(group);
            byte[]? value = state is null ? null : OffsetRecords.GroupMetadataValue(state);
            if (key.Length + (value?.Length ?? 0) + RecordOverhead + RecordBatch.HeaderSize > MaxBatchBytes)
            {
                throw new OffsetStoreException(ErrorCode.InvalidRequest, "The group's metadata is too large to record.");
            }

            var builder = new RecordBatchBuilder();
            if (value is null)
            {
                builder.Add(timestampMs, key, default, valueIsNull: true);
            }
            else
            {
                builder.Add(timestampMs, key, value);
            }

            Write(builder);
            if (value is null)
            {
                _groupMetadata.Remove(group);
            }
            else
            {
                _groupMetadata[group] = value;
            }
        }
    }

    /// <summary>Adds one OffsetCommit record (a tombstone for a null offset); returns its size in the batch, at most.</summary>
    private static int AddOffset(RecordBatchBuilder builder, string group, string topic, int partition, CommittedOffset? offset)
    {
        byte[] key = OffsetRecords.OffsetCommitKey(group, topic, partition);
        if (offset is null)
        {
            builder.Add(0, key, default, valueIsNull: true);
            return key.Length + RecordOverhead;
        }

        byte[] value = OffsetRecords.OffsetCommitValue(offset);
        builder.Add(offset.CommitTimestamp, key, value);
        return key.Length + value.Length + RecordOverhead;
    }

    /// <summary>Applies a Kafka-format record; records of other kinds or versions are skipped, not fatal.</summary>
    private void Apply(RecordView record)
    {
        ReadOnlySpan<byte> key = record.Key;
        if (OffsetRecords.TryReadOffsetCommitKey(key, out string group, out string topic, out int partition))
        {
            if (record.ValueIsNull)
            {
                _live.Remove((group, topic, partition));
            }
            else if (OffsetRecords.TryReadOffsetCommitValue(record.Value, out CommittedOffset? offset))
            {
                _live[(group, topic, partition)] = offset!;
            }
        }
        else if (OffsetRecords.TryReadGroupMetadataKey(key, out string groupId))
        {
            if (record.ValueIsNull)
            {
                _groupMetadata.Remove(groupId);
            }
            else
            {
                _groupMetadata[groupId] = record.Value.ToArray();
            }
        }
    }

    /// <summary>Applies a record of the layout written before Kafka's schemas (for the one-time conversion).</summary>
    private void ApplyLegacy(RecordView record)
    {
        if (!OffsetRecords.TryReadLegacy(record.Key, record.Value, record.ValueIsNull, out string group, out string topic, out int partition,
            out CommittedOffset? offset))
        {
            return; // not ours: skip rather than fail the start
        }

        if (offset is null)
        {
            _live.Remove((group, topic, partition));
        }
        else
        {
            _live[(group, topic, partition)] = offset;
        }
    }

    /// <summary>The offset where Kafka-format records begin, or -1 when the data directory has no record of it (a log of the old layout, or a new one).</summary>
    private long ReadFormat()
    {
        if (_formatFile is null)
        {
            return 0; // a replicated partition: Kafka's schemas from the start
        }

        if (!File.Exists(_formatFile))
        {
            return -1;
        }

        string text = File.ReadAllText(_formatFile).Trim();
        const string Prefix = "kafka-schemas-from ";
        return text.StartsWith(Prefix, StringComparison.Ordinal) &&
            long.TryParse(text.AsSpan(Prefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long from)
            ? from
            : throw new IOException($"{_formatFile} is not readable ('{(text.Length > 64 ? text[..64] : text)}').");
    }

    /// <summary>Records durably (temporary file, fsync, rename, directory fsync) where Kafka-format records begin.</summary>
    private void WriteFormat(long from) =>
        Storage.Checkpoints.AtomicFile.Write(_formatFile!,
            Encoding.ASCII.GetBytes(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"kafka-schemas-from {from}\n")));

    private static partial class Log
    {
        [LoggerMessage(EventId = 3511, Level = LogLevel.Error,
            Message = "Compaction of the committed-offset log failed ({Live} live entries); commits go on, the old entries stay until a later compaction succeeds")]
        public static partial void CompactionFailed(ILogger logger, Exception exception, int live);

        [LoggerMessage(EventId = 3512, Level = LogLevel.Error, Message = "Flushing the committed-offset log failed")]
        public static partial void FlushFailed(ILogger logger, Exception exception);
    }
}

/// <summary>A commit the offset store refuses before writing anything, with the Kafka error to answer.</summary>
internal sealed class OffsetStoreException(ErrorCode error, string message) : IOException(message)
{
    public ErrorCode Error { get; } = error;
}
