using System.Buffers.Binary;
using System.Text;
using LogBroker.Protocol.Records;
using LogBroker.Storage;

namespace LogBroker.Broker.Groups;

/// <summary>
/// Committed offsets kept in an internal partition, <c>__consumer_offsets-0</c>, written before a
/// commit is acknowledged, so they survive a crash of the broker process (kill -9) like any appended
/// batch, and replayed at start.
/// </summary>
/// <remarks>
/// <para>Record format (one record per partition committed; a batch per commit request):
/// key = <c>int16 length, group (UTF-8), int16 length, topic, int32 partition</c>;
/// value = <c>int64 offset, int32 leader epoch, int64 commit timestamp, int16 length (-1 = null),
/// metadata</c>; a null value deletes the entry.</para>
/// <para>Bounded: when the log has grown past the compaction threshold (32 MiB) since the last
/// compaction, every live entry is written again as a snapshot and everything before the snapshot is
/// deleted (DeleteRecordsBefore drops whole 4 MiB segments), so the log stays near the size of the
/// live offsets plus one threshold.</para>
/// <para>Thread-safety: one lock around append and compaction.</para>
/// </remarks>
internal sealed class OffsetLog : IOffsetStore
{
    public const string Topic = "__consumer_offsets";

    private readonly PartitionLog _log;
    private readonly long _compactAfterBytes;
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Group, string Topic, int Partition), CommittedOffset> _live = [];
    private long _sizeAtCompaction;

    /// <param name="logs">Where the internal partition lives.</param>
    /// <param name="compactAfterBytes">Growth since the last compaction that triggers the next one (32 MiB; smaller in tests).</param>
    /// <param name="segmentBytes">Segment size of the internal partition (4 MiB): the unit in which old commits are dropped.</param>
    public OffsetLog(LogManager logs, long compactAfterBytes = 32L * 1024 * 1024, int segmentBytes = 4 * 1024 * 1024)
    {
        _compactAfterBytes = compactAfterBytes;
        LogConfig config = LogConfig.Default with
        {
            SegmentBytes = segmentBytes,
            RetentionTime = null,
            RetentionBytes = null,
            MaxMessageBytes = 16 * 1024 * 1024,
        };
        _log = logs.GetOrCreate(new TopicPartition(Topic, 0), config);
        _log.UpdateConfig(config);
    }

    /// <summary>Bytes the internal partition holds now (for tests and metrics).</summary>
    public long Size => _log.Size;

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

    public void Append(string group, IReadOnlyList<(string Topic, int Partition, CommittedOffset? Offset)> changes)
    {
        if (changes.Count == 0)
        {
            return;
        }

        lock (_lock)
        {
            var builder = new RecordBatchBuilder();
            foreach ((string topic, int partition, CommittedOffset? offset) in changes)
            {
                Add(builder, group, topic, partition, offset);
                if (offset is null)
                {
                    _live.Remove((group, topic, partition));
                }
                else
                {
                    _live[(group, topic, partition)] = offset;
                }
            }

            Write(builder);
            if (_log.Size - _sizeAtCompaction > _compactAfterBytes)
            {
                Compact();
            }
        }
    }

    private void Compact()
    {
        long snapshotStart = _log.LogEndOffset;
        var builder = new RecordBatchBuilder();
        foreach (((string group, string topic, int partition), CommittedOffset offset) in _live)
        {
            Add(builder, group, topic, partition, offset);
            if (builder.Count == 10_000)
            {
                Write(builder);
                builder = new RecordBatchBuilder();
            }
        }

        if (builder.Count > 0)
        {
            Write(builder);
        }

        _log.DeleteRecordsBefore(snapshotStart);
        _log.Roll(); // the snapshot's segment becomes deletable by the next compaction
        _sizeAtCompaction = _log.Size;
    }

    private void Write(RecordBatchBuilder builder)
    {
        AppendResult result = _log.Append(builder.ToArray());
        if (result.Status != AppendStatus.Success)
        {
            throw new IOException($"Could not store committed offsets: {result.Status}.");
        }
    }

    private static void Add(RecordBatchBuilder builder, string group, string topic, int partition, CommittedOffset? offset)
    {
        byte[] key = new byte[4 + Encoding.UTF8.GetByteCount(group) + Encoding.UTF8.GetByteCount(topic) + 4];
        int p = WriteString(key, 0, group);
        p = WriteString(key, p, topic);
        BinaryPrimitives.WriteInt32BigEndian(key.AsSpan(p), partition);
        if (offset is null)
        {
            builder.Add(0, key, default, valueIsNull: true);
            return;
        }

        byte[] value = new byte[8 + 4 + 8 + 2 + (offset.Metadata is null ? 0 : Encoding.UTF8.GetByteCount(offset.Metadata))];
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
        BinaryPrimitives.WriteInt16BigEndian(buffer.AsSpan(position), (short)length);
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
}
