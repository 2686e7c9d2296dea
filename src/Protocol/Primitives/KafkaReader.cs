using System.Buffers.Binary;
using System.Text;

namespace LogBroker.Protocol.Primitives;

/// <summary>
/// Reads Kafka's wire primitives from a span, big-endian, with a sticky failure flag: once a read
/// runs past the end or meets an impossible length, <see cref="Failed"/> is set and every later read
/// returns a default value. Callers decode a whole message and test <see cref="Failed"/> once, as
/// franz-go's reader does.
/// </summary>
/// <remarks>
/// Every length is bounded by the bytes that remain before anything is sliced, and a count returned
/// by <see cref="ReadArrayLength"/> never exceeds the remaining bytes (each element takes at least one
/// byte). That alone does not bound what a caller allocates: a list pre-sized to such a count costs
/// 8 or more bytes per frame byte before a single element is read. Callers therefore pre-size at most
/// <see cref="InitialCapacityCap"/> elements and let the list grow as elements are actually read, so
/// what a decode allocates is proportional to the bytes it has consumed (decoded objects and strings
/// are larger than their encodings, so the factor is more than one; the protocol tests measure it).
/// </remarks>
public ref struct KafkaReader
{
    /// <summary>The most elements a decoder pre-sizes a list for, whatever count the wire claims.</summary>
    public const int InitialCapacityCap = 16;

    private readonly ReadOnlySpan<byte> _buffer;
    private readonly ReadOnlyMemory<byte> _memory;
    private readonly bool _hasMemory;
    private int _position;

    /// <summary>Reads from a span; <see cref="ReadBytesAsMemory"/> then copies.</summary>
    public KafkaReader(ReadOnlySpan<byte> buffer) => _buffer = buffer;

    /// <summary>Reads from memory; <see cref="ReadBytesAsMemory"/> then slices it without copying.</summary>
    public KafkaReader(ReadOnlyMemory<byte> buffer)
    {
        _buffer = buffer.Span;
        _memory = buffer;
        _hasMemory = true;
    }

    /// <summary>True once any read failed; the values read since are defaults.</summary>
    public bool Failed { get; private set; }

    /// <summary>Bytes consumed.</summary>
    public readonly int Position => _position;

    /// <summary>Bytes left.</summary>
    public readonly int Remaining => _buffer.Length - _position;

    /// <summary>The bytes left, without consuming them.</summary>
    public readonly ReadOnlySpan<byte> RemainingSpan => _buffer[_position..];

    public sbyte ReadInt8() => TryTake(1, out ReadOnlySpan<byte> s) ? (sbyte)s[0] : (sbyte)0;

    public bool ReadBoolean() => ReadInt8() != 0;

    public short ReadInt16() => TryTake(2, out ReadOnlySpan<byte> s) ? BinaryPrimitives.ReadInt16BigEndian(s) : (short)0;

    public ushort ReadUInt16() => TryTake(2, out ReadOnlySpan<byte> s) ? BinaryPrimitives.ReadUInt16BigEndian(s) : (ushort)0;

    public int ReadInt32() => TryTake(4, out ReadOnlySpan<byte> s) ? BinaryPrimitives.ReadInt32BigEndian(s) : 0;

    public uint ReadUInt32() => TryTake(4, out ReadOnlySpan<byte> s) ? BinaryPrimitives.ReadUInt32BigEndian(s) : 0;

    public long ReadInt64() => TryTake(8, out ReadOnlySpan<byte> s) ? BinaryPrimitives.ReadInt64BigEndian(s) : 0;

    public double ReadFloat64() => TryTake(8, out ReadOnlySpan<byte> s) ? BinaryPrimitives.ReadDoubleBigEndian(s) : 0;

    public Guid ReadUuid() => TryTake(16, out ReadOnlySpan<byte> s) ? new Guid(s, bigEndian: true) : Guid.Empty;

    public int ReadVarInt()
    {
        if (Failed || !VarInt.TryReadInt32(RemainingSpan, out int value, out int n))
        {
            return Fail<int>();
        }

        _position += n;
        return value;
    }

    public long ReadVarLong()
    {
        if (Failed || !VarInt.TryReadInt64(RemainingSpan, out long value, out int n))
        {
            return Fail<long>();
        }

        _position += n;
        return value;
    }

    public uint ReadUnsignedVarInt()
    {
        if (Failed || !VarInt.TryReadUInt32(RemainingSpan, out uint value, out int n))
        {
            return Fail<uint>();
        }

        _position += n;
        return value;
    }

    /// <summary>STRING (int16 length); null is a failure.</summary>
    public string ReadString() => ReadNullableString() ?? Fail<string>() ?? string.Empty;

    /// <summary>NULLABLE_STRING (int16 length, -1 = null).</summary>
    public string? ReadNullableString()
    {
        short length = ReadInt16();
        return length == -1 ? null : DecodeUtf8(length);
    }

    /// <summary>COMPACT_STRING (unsigned varint length + 1); null is a failure.</summary>
    public string ReadCompactString() => ReadCompactNullableString() ?? Fail<string>() ?? string.Empty;

    /// <summary>COMPACT_NULLABLE_STRING (unsigned varint length + 1, 0 = null).</summary>
    public string? ReadCompactNullableString()
    {
        uint lengthPlusOne = ReadUnsignedVarInt();
        return lengthPlusOne == 0 ? null : DecodeUtf8(lengthPlusOne - 1);
    }

    /// <summary>Flexible or classic string by <paramref name="compact"/>.</summary>
    public string ReadString(bool compact) => compact ? ReadCompactString() : ReadString();

    /// <summary>Flexible or classic nullable string by <paramref name="compact"/>.</summary>
    public string? ReadNullableString(bool compact) => compact ? ReadCompactNullableString() : ReadNullableString();

    /// <summary>BYTES / NULLABLE_BYTES (int32 length, -1 = null) as a slice of the buffer; null reads as empty with <paramref name="isNull"/> set.</summary>
    public ReadOnlySpan<byte> ReadBytes(out bool isNull)
    {
        int length = ReadInt32();
        isNull = length == -1 && !Failed;
        return isNull ? default : Slice(length);
    }

    /// <summary>COMPACT_BYTES / COMPACT_NULLABLE_BYTES (unsigned varint length + 1, 0 = null).</summary>
    public ReadOnlySpan<byte> ReadCompactBytes(out bool isNull)
    {
        uint lengthPlusOne = ReadUnsignedVarInt();
        isNull = lengthPlusOne == 0 && !Failed;
        return isNull ? default : Slice(lengthPlusOne - 1);
    }

    /// <summary>Flexible or classic bytes by <paramref name="compact"/>.</summary>
    public ReadOnlySpan<byte> ReadBytes(bool compact, out bool isNull) => compact ? ReadCompactBytes(out isNull) : ReadBytes(out isNull);

    /// <summary>
    /// ARRAY length (int32, -1 = null → -1) or COMPACT_ARRAY length (unsigned varint N + 1, 0 = null → -1).
    /// A count larger than the bytes left fails the reader: no element is smaller than one byte.
    /// </summary>
    public int ReadArrayLength(bool compact)
    {
        long count = compact ? (long)ReadUnsignedVarInt() - 1 : ReadInt32();
        if (Failed)
        {
            return 0;
        }

        if (count < -1 || count > Remaining)
        {
            return Fail<int>();
        }

        return (int)count;
    }

    /// <summary>
    /// BYTES / RECORDS in either encoding as memory: a slice of the frame when the reader was made
    /// from memory (zero copy: produced record batches stay in the request buffer), else a copy.
    /// Null reads as null.
    /// </summary>
    public ReadOnlyMemory<byte>? ReadBytesAsMemory(bool compact)
    {
        ReadOnlySpan<byte> bytes = ReadBytes(compact, out bool isNull);
        if (Failed || isNull)
        {
            return null;
        }

        return _hasMemory ? _memory.Slice(_position - bytes.Length, bytes.Length) : bytes.ToArray();
    }

    /// <summary>Marks the message as malformed (a value no version allows, such as a null where none may be).</summary>
    public void MarkFailed() => Failed = true;

    /// <summary>Skips a tagged-field section (flexible versions): count, then tag, size, bytes for each.</summary>
    public void SkipTaggedFields()
    {
        uint count = ReadUnsignedVarInt();
        for (uint i = 0; i < count && !Failed; i++)
        {
            _ = ReadUnsignedVarInt(); // tag
            uint size = ReadUnsignedVarInt();
            _ = Slice(size);
        }
    }

    /// <summary>Takes <paramref name="length"/> raw bytes.</summary>
    public ReadOnlySpan<byte> ReadRaw(int length) => Slice(length);

    private ReadOnlySpan<byte> Slice(long length)
    {
        if (Failed || length < 0 || length > Remaining)
        {
            Failed = true;
            return default;
        }

        ReadOnlySpan<byte> slice = _buffer.Slice(_position, (int)length);
        _position += (int)length;
        return slice;
    }

    private string DecodeUtf8(long length)
    {
        ReadOnlySpan<byte> bytes = Slice(length);
        return Failed ? string.Empty : Encoding.UTF8.GetString(bytes);
    }

    private bool TryTake(int count, out ReadOnlySpan<byte> span)
    {
        if (Failed || count > Remaining)
        {
            Failed = true;
            span = default;
            return false;
        }

        span = _buffer.Slice(_position, count);
        _position += count;
        return true;
    }

    private T? Fail<T>()
    {
        Failed = true;
        return default;
    }
}
