using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace LogBroker.Protocol.Primitives;

/// <summary>
/// Writes Kafka's wire primitives, big-endian, straight into an <see cref="IBufferWriter{T}"/>
/// (a PipeWriter for responses), asking it for memory as it goes.
/// </summary>
/// <remarks>
/// Not thread-safe. With a PipeWriter, spans obtained from <see cref="Reserve"/> stay valid until the
/// pipe is flushed, so a size prefix can be reserved first and filled in last. Writers that move
/// written memory when they grow (ArrayBufferWriter) do not allow that.
/// </remarks>
public ref struct KafkaWriter
{
    private readonly IBufferWriter<byte> _output;
    private readonly IRawSplicer? _splicer;
    private Span<byte> _span;
    private int _buffered;

    public KafkaWriter(IBufferWriter<byte> output)
        : this(output, null)
    {
    }

    /// <summary>
    /// A writer that offers every raw run of at least <see cref="IRawSplicer.MinimumLength"/> bytes to
    /// <paramref name="splicer"/> before copying it: a run the splicer takes is counted in
    /// <see cref="Written"/> but not copied (the splicer sends it from where it already lives).
    /// </summary>
    public KafkaWriter(IBufferWriter<byte> output, IRawSplicer? splicer)
    {
        _output = output;
        _splicer = splicer;
        _span = default;
        _buffered = 0;
    }

    /// <summary>Bytes written through this writer, including those still buffered.</summary>
    public long Written { get; private set; }

    public void WriteInt8(sbyte value) => Take(1)[0] = (byte)value;

    public void WriteBoolean(bool value) => Take(1)[0] = value ? (byte)1 : (byte)0;

    public void WriteInt16(short value) => BinaryPrimitives.WriteInt16BigEndian(Take(2), value);

    public void WriteUInt16(ushort value) => BinaryPrimitives.WriteUInt16BigEndian(Take(2), value);

    public void WriteInt32(int value) => BinaryPrimitives.WriteInt32BigEndian(Take(4), value);

    public void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32BigEndian(Take(4), value);

    public void WriteInt64(long value) => BinaryPrimitives.WriteInt64BigEndian(Take(8), value);

    public void WriteFloat64(double value) => BinaryPrimitives.WriteDoubleBigEndian(Take(8), value);

    public void WriteUuid(Guid value) => value.TryWriteBytes(Take(16), bigEndian: true, out _);

    public void WriteVarInt(int value) => Advance(VarInt.WriteInt32(Ensure(5), value));

    public void WriteVarLong(long value) => Advance(VarInt.WriteInt64(Ensure(10), value));

    public void WriteUnsignedVarInt(uint value) => Advance(VarInt.WriteUInt64(Ensure(5), value));

    /// <summary>STRING or NULLABLE_STRING (int16 length, -1 = null).</summary>
    public void WriteNullableString(string? value)
    {
        if (value is null)
        {
            WriteInt16(-1);
            return;
        }

        int length = Encoding.UTF8.GetByteCount(value);
        if (length > short.MaxValue)
        {
            throw new ArgumentException("A Kafka STRING is at most 32767 bytes.", nameof(value));
        }

        WriteInt16((short)length);
        WriteUtf8(value, length);
    }

    /// <summary>COMPACT_STRING or COMPACT_NULLABLE_STRING (unsigned varint length + 1, 0 = null).</summary>
    public void WriteCompactNullableString(string? value)
    {
        if (value is null)
        {
            WriteUnsignedVarInt(0);
            return;
        }

        int length = Encoding.UTF8.GetByteCount(value);
        WriteUnsignedVarInt((uint)length + 1);
        WriteUtf8(value, length);
    }

    /// <summary>Flexible or classic (nullable) string by <paramref name="compact"/>.</summary>
    public void WriteString(string? value, bool compact)
    {
        if (compact)
        {
            WriteCompactNullableString(value);
        }
        else
        {
            WriteNullableString(value);
        }
    }

    /// <summary>BYTES or COMPACT_BYTES by <paramref name="compact"/>; <paramref name="isNull"/> writes the null marker.</summary>
    public void WriteBytes(ReadOnlySpan<byte> value, bool compact, bool isNull = false)
    {
        if (compact)
        {
            WriteUnsignedVarInt(isNull ? 0 : (uint)value.Length + 1);
        }
        else
        {
            WriteInt32(isNull ? -1 : value.Length);
        }

        if (!isNull)
        {
            WriteRaw(value);
        }
    }

    /// <summary>ARRAY length (int32, null = -1) or COMPACT_ARRAY length (N + 1, null = 0).</summary>
    public void WriteArrayLength(int count, bool compact)
    {
        if (compact)
        {
            WriteUnsignedVarInt(count < 0 ? 0 : (uint)count + 1);
        }
        else
        {
            WriteInt32(count);
        }
    }

    /// <summary>An empty tagged-field section (flexible versions).</summary>
    public void WriteEmptyTaggedFields() => WriteUnsignedVarInt(0);

    /// <summary>Copies raw bytes, across as many buffers as it takes.</summary>
    public void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        if (_splicer is not null && bytes.Length >= _splicer.MinimumLength)
        {
            // Hand over what is buffered first, so the splicer sees the exact position of the run.
            Commit();
            if (_splicer.TrySplice(bytes))
            {
                Written += bytes.Length;
                return;
            }
        }

        while (!bytes.IsEmpty)
        {
            if (_span.Length == 0)
            {
                Ensure(1);
            }

            int n = Math.Min(bytes.Length, _span.Length);
            bytes[..n].CopyTo(_span);
            Advance(n);
            bytes = bytes[n..];
        }
    }

    /// <summary>
    /// Reserves <paramref name="length"/> bytes to fill in later (a size prefix); see the remarks for
    /// which writers keep the span valid.
    /// </summary>
    public Span<byte> Reserve(int length) => Take(length);

    /// <summary>Hands the buffered bytes to the underlying writer. Call before flushing it.</summary>
    public void Commit()
    {
        if (_buffered > 0)
        {
            _output.Advance(_buffered);
            _buffered = 0;
            _span = default;
        }
    }

    private void WriteUtf8(string value, int length)
    {
        if (length <= 256)
        {
            Advance(Encoding.UTF8.GetBytes(value, Ensure(length)));
            return;
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent(length);
        int written = Encoding.UTF8.GetBytes(value, rented);
        WriteRaw(rented.AsSpan(0, written));
        ArrayPool<byte>.Shared.Return(rented);
    }

    private Span<byte> Take(int length)
    {
        Span<byte> span = Ensure(length)[..length];
        Advance(length);
        return span;
    }

    private Span<byte> Ensure(int length)
    {
        if (_span.Length < length)
        {
            Commit();
            _span = _output.GetSpan(length);
        }

        return _span;
    }

    private void Advance(int length)
    {
        _span = _span[length..];
        _buffered += length;
        Written += length;
    }
}
