using System.Buffers;
using System.Buffers.Binary;
using LogBroker.Protocol.Primitives;

namespace LogBroker.Protocol.Records;

/// <summary>A record header: a UTF-8 key (not null) and an optional value.</summary>
public readonly record struct RecordHeader(string Key, ReadOnlyMemory<byte>? Value);

/// <summary>
/// Encodes an uncompressed record batch v2 into an <see cref="IBufferWriter{T}"/>: add records,
/// then <see cref="Complete"/> writes the header and CRC. Base offset is 0 and partition leader
/// epoch -1, as a producer sends them.
/// </summary>
/// <remarks>Not thread-safe. Compression belongs to the client's encoder, built on this layout.</remarks>
public sealed class RecordBatchBuilder
{
    private readonly ArrayBufferWriter<byte> _records = new();
    private long _baseTimestamp;
    private long _maxTimestamp = -1;
    private int _count;

    /// <summary>Producer id for idempotent batches (-1 when not idempotent).</summary>
    public long ProducerId { get; init; } = -1;

    /// <summary>Producer epoch (-1 when not idempotent).</summary>
    public short ProducerEpoch { get; init; } = -1;

    /// <summary>Sequence of the first record (-1 when not idempotent).</summary>
    public int BaseSequence { get; init; } = -1;

    /// <summary>Records added so far.</summary>
    public int Count => _count;

    /// <summary>Appends one record; <paramref name="key"/> or <paramref name="value"/> may be null.</summary>
    public RecordBatchBuilder Add(long timestamp, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value,
        bool keyIsNull = false, bool valueIsNull = false, IReadOnlyList<RecordHeader>? headers = null)
    {
        if (_count == 0)
        {
            _baseTimestamp = timestamp;
        }

        _maxTimestamp = Math.Max(_maxTimestamp, timestamp);
        long timestampDelta = timestamp - _baseTimestamp;
        int offsetDelta = _count;

        int headersSize = VarInt.SizeOfInt32(headers?.Count ?? 0);
        if (headers is not null)
        {
            foreach (RecordHeader h in headers)
            {
                int keyBytes = System.Text.Encoding.UTF8.GetByteCount(h.Key);
                headersSize += VarInt.SizeOfInt32(keyBytes) + keyBytes;
                headersSize += h.Value is { } v ? VarInt.SizeOfInt32(v.Length) + v.Length : 1;
            }
        }

        int bodySize = 1 + VarInt.SizeOfInt64(timestampDelta) + VarInt.SizeOfInt32(offsetDelta)
            + (keyIsNull ? 1 : VarInt.SizeOfInt32(key.Length) + key.Length)
            + (valueIsNull ? 1 : VarInt.SizeOfInt32(value.Length) + value.Length)
            + headersSize;

        Span<byte> span = _records.GetSpan(bodySize + 5);
        int p = VarInt.WriteInt32(span, bodySize);
        span[p++] = 0; // attributes
        p += VarInt.WriteInt64(span[p..], timestampDelta);
        p += VarInt.WriteInt32(span[p..], offsetDelta);
        p += WriteBytes(span[p..], key, keyIsNull);
        p += WriteBytes(span[p..], value, valueIsNull);
        p += VarInt.WriteInt32(span[p..], headers?.Count ?? 0);
        if (headers is not null)
        {
            foreach (RecordHeader h in headers)
            {
                byte[] keyBytes = System.Text.Encoding.UTF8.GetBytes(h.Key);
                p += WriteBytes(span[p..], keyBytes, false);
                p += h.Value is { } v ? WriteBytes(span[p..], v.Span, false) : WriteBytes(span[p..], default, true);
            }
        }

        _records.Advance(p);
        _count++;
        return this;
    }

    /// <summary>Writes the finished batch into <paramref name="output"/> and returns its size.</summary>
    public int Complete(IBufferWriter<byte> output)
    {
        if (_count == 0)
        {
            throw new InvalidOperationException("A record batch needs at least one record.");
        }

        int size = RecordBatch.HeaderSize + _records.WrittenCount;
        Span<byte> batch = output.GetSpan(size)[..size];
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatch.BaseOffsetOffset..], 0);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatch.LengthOffset..], size - RecordBatch.LogOverhead);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatch.PartitionLeaderEpochOffset..], -1);
        batch[RecordBatch.MagicOffset] = RecordBatch.CurrentMagic;
        BinaryPrimitives.WriteInt16BigEndian(batch[RecordBatch.AttributesOffset..], 0);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatch.LastOffsetDeltaOffset..], _count - 1);
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatch.BaseTimestampOffset..], _baseTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatch.MaxTimestampOffset..], _maxTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatch.ProducerIdOffset..], ProducerId);
        BinaryPrimitives.WriteInt16BigEndian(batch[RecordBatch.ProducerEpochOffset..], ProducerEpoch);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatch.BaseSequenceOffset..], BaseSequence);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatch.RecordCountOffset..], _count);
        _records.WrittenSpan.CopyTo(batch[RecordBatch.HeaderSize..]);
        RecordBatch.WriteCrc(batch);
        output.Advance(size);
        return size;
    }

    /// <summary>Convenience: the finished batch as a new array.</summary>
    public byte[] ToArray()
    {
        var output = new ArrayBufferWriter<byte>(RecordBatch.HeaderSize + _records.WrittenCount);
        Complete(output);
        return output.WrittenSpan.ToArray();
    }

    private static int WriteBytes(Span<byte> span, ReadOnlySpan<byte> bytes, bool isNull)
    {
        if (isNull)
        {
            return VarInt.WriteInt32(span, -1);
        }

        int p = VarInt.WriteInt32(span, bytes.Length);
        bytes.CopyTo(span[p..]);
        return p + bytes.Length;
    }
}
