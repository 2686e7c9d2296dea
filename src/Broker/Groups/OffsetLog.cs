using System.Buffers.Binary;
using System.Text;
using LogBroker.Protocol;
using LogBroker.Protocol.Records;
using LogBroker.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Broker.Groups;

/// <summary>
/// Committed offsets kept in an internal partition, <c>__consumer_offsets-0</c>, appended before a
/// commit is acknowledged and replayed at start.
/// </summary>
/// <remarks>
/// <para><b>What a commit survives.</b> An appended commit is in the page cache: it survives a crash of
/// the broker process (kill -9). It survives power loss or a kernel crash once
/// <see cref="WhenDurableAsync"/> has completed for its position (an fsync of the partition; the
/// OffsetCommit handler waits for it when <c>Broker:FlushOnAcksAll</c> is on). Concurrent waiters share
/// one fsync, run by a single flusher task: no thread blocks per waiter. Deletions (DeleteGroups,
/// OffsetDelete, expiry) are not waited for.</para>
/// <para>Record format (one record per partition committed; a batch per commit request):
/// key = <c>int16 length, group (UTF-8), int16 length, topic, int32 partition</c>;
/// value = <c>int64 offset, int32 leader epoch, int64 commit timestamp, int16 length (-1 = null),
/// metadata</c>; a null value deletes the entry. Strings longer than 32767 bytes are refused before
/// anything is written (<see cref="OffsetStoreException"/>), so every acknowledged commit loads again.
/// A commit whose batch would exceed the partition's 16 MiB limit is refused whole
/// (INVALID_COMMIT_OFFSET_SIZE, as Kafka maps RECORD_LIST_TOO_LARGE).</para>
/// <para>Bounded: when the log has grown past the compaction threshold (32 MiB) since the last
/// compaction, every live entry is written again as a snapshot, in batches of about 1 MiB, the snapshot
/// is fsynced (segments and directory), and only then is everything before it deleted
/// (DeleteRecordsBefore drops whole 4 MiB segments). So the log stays near the size of the live
/// offsets plus one threshold, and a power loss at any point leaves either the old entries or the
/// durable snapshot. A failed compaction is logged and retried after another threshold of growth; it
/// never fails the commit that triggered it.</para>
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
        LogConfig config = LogConfig.Default with
        {
            SegmentBytes = segmentBytes,
            RetentionTime = null,
            RetentionBytes = null,
            MaxMessageBytes = MaxBatchBytes,
        };
        _log = logs.GetOrCreate(new TopicPartition(Topic, 0), config);
        _log.UpdateConfig(config);
    }

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
            _log.ScanBatches(0, (in RecordBatchHeader header, ReadOnlySpan<byte> batch) =>
            {
                var records = new RecordReader(batch[RecordBatch.HeaderSize..]);
                while (records.TryRead(out RecordView record))
                {
                    Apply(record);
                }
            });

            _sizeAtCompaction = _log.Size;
            return [.. _live.Select(e => (e.Key.Group, e.Key.Topic, e.Key.Partition, e.Value))];
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

            var builder = new RecordBatchBuilder();
            long bytes = RecordBatch.HeaderSize;
            foreach ((string topic, int partition, CommittedOffset? offset) in changes)
            {
                bytes += Add(builder, group, topic, partition, offset);
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
        var builder = new RecordBatchBuilder();
        long bytes = 0;
        foreach (((string group, string topic, int partition), CommittedOffset offset) in _live)
        {
            bytes += Add(builder, group, topic, partition, offset);
            if (bytes >= _snapshotChunkBytes)
            {
                Write(builder);
                builder = new RecordBatchBuilder();
                bytes = 0;
            }
        }

        if (builder.Count > 0)
        {
            Write(builder);
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
    }

    /// <summary>Adds one record; returns its size in the batch, at most.</summary>
    private static int Add(RecordBatchBuilder builder, string group, string topic, int partition, CommittedOffset? offset)
    {
        int groupBytes = StringBytes(group), topicBytes = StringBytes(topic);
        byte[] key = new byte[4 + groupBytes + topicBytes + 4];
        int p = WriteString(key, 0, group);
        p = WriteString(key, p, topic);
        BinaryPrimitives.WriteInt32BigEndian(key.AsSpan(p), partition);
        if (offset is null)
        {
            builder.Add(0, key, default, valueIsNull: true);
            return key.Length + RecordOverhead;
        }

        byte[] value = new byte[8 + 4 + 8 + 2 + (offset.Metadata is null ? 0 : StringBytes(offset.Metadata))];
        BinaryPrimitives.WriteInt64BigEndian(value, offset.Offset);
        BinaryPrimitives.WriteInt32BigEndian(value.AsSpan(8), offset.LeaderEpoch);
        BinaryPrimitives.WriteInt64BigEndian(value.AsSpan(12), offset.CommitTimestamp);
        if (offset.Metadata is null)
        {
            BinaryPrimitives.WriteInt16BigEndian(value.AsSpan(20), -1);
        }
        else
        {
            WriteString(value, 20, offset.Metadata);
        }

        builder.Add(offset.CommitTimestamp, key, value);
        return key.Length + value.Length + RecordOverhead;
    }

    /// <summary>UTF-8 length of a stored string; over 32767 bytes it could not be read back, so it is refused.</summary>
    private static int StringBytes(string text)
    {
        int length = Encoding.UTF8.GetByteCount(text);
        if (length > short.MaxValue)
        {
            throw new OffsetStoreException(ErrorCode.InvalidRequest, $"A group, topic or metadata string of {length} bytes is over {short.MaxValue}.");
        }

        return length;
    }

    private void Apply(RecordView record)
    {
        ReadOnlySpan<byte> key = record.Key;
        if (!TryReadString(ref key, out string? group) || !TryReadString(ref key, out string? topic) || key.Length != 4)
        {
            return; // not ours: skip rather than fail the start
        }

        int partition = BinaryPrimitives.ReadInt32BigEndian(key);
        if (record.ValueIsNull)
        {
            _live.Remove((group!, topic!, partition));
            return;
        }

        ReadOnlySpan<byte> value = record.Value;
        if (value.Length < 22)
        {
            return;
        }

        ReadOnlySpan<byte> metadataPart = value[20..];
        string? metadata = BinaryPrimitives.ReadInt16BigEndian(metadataPart) == -1 ? null
            : TryReadString(ref metadataPart, out string? m) ? m : null;
        _live[(group!, topic!, partition)] = new CommittedOffset(
            BinaryPrimitives.ReadInt64BigEndian(value),
            BinaryPrimitives.ReadInt32BigEndian(value[8..]),
            metadata,
            BinaryPrimitives.ReadInt64BigEndian(value[12..]));
    }

    private static int WriteString(byte[] buffer, int position, string text)
    {
        int length = Encoding.UTF8.GetBytes(text, buffer.AsSpan(position + 2));
        BinaryPrimitives.WriteInt16BigEndian(buffer.AsSpan(position), checked((short)length));
        return position + 2 + length;
    }

    private static bool TryReadString(ref ReadOnlySpan<byte> span, out string? text)
    {
        text = null;
        if (span.Length < 2)
        {
            return false;
        }

        int length = BinaryPrimitives.ReadInt16BigEndian(span);
        if (length < 0 || length > span.Length - 2)
        {
            return false;
        }

        text = Encoding.UTF8.GetString(span.Slice(2, length));
        span = span[(2 + length)..];
        return true;
    }

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
