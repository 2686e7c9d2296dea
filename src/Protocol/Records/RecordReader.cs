using LogBroker.Protocol.Primitives;

namespace LogBroker.Protocol.Records;

/// <summary>One decoded record; spans point into the batch.</summary>
public readonly ref struct RecordView
{
    public RecordView(long timestampDelta, int offsetDelta, ReadOnlySpan<byte> key, bool keyIsNull,
        ReadOnlySpan<byte> value, bool valueIsNull, int headerCount, ReadOnlySpan<byte> headers)
    {
        TimestampDelta = timestampDelta;
        OffsetDelta = offsetDelta;
        Key = key;
        KeyIsNull = keyIsNull;
        Value = value;
        ValueIsNull = valueIsNull;
        HeaderCount = headerCount;
        Headers = headers;
    }

    public long TimestampDelta { get; }

    public int OffsetDelta { get; }

    public ReadOnlySpan<byte> Key { get; }

    public bool KeyIsNull { get; }

    public ReadOnlySpan<byte> Value { get; }

    public bool ValueIsNull { get; }

    public int HeaderCount { get; }

    /// <summary>The encoded headers (after the count), not decoded.</summary>
    public ReadOnlySpan<byte> Headers { get; }
}

/// <summary>
/// Iterates the records of an uncompressed batch body (the bytes after the 61-byte header).
/// Every length is bounded by the bytes left; a malformed record stops the iteration with
/// <see cref="IsMalformed"/> set, never an exception or an out-of-range read.
/// </summary>
public ref struct RecordReader
{
    private ReadOnlySpan<byte> _remaining;

    public RecordReader(ReadOnlySpan<byte> records) => _remaining = records;

    /// <summary>True once a record could not be decoded.</summary>
    public bool IsMalformed { get; private set; }

    /// <summary>Reads the next record; false at the end or on malformed input.</summary>
    public bool TryRead(out RecordView record)
    {
        record = default;
        if (_remaining.IsEmpty || IsMalformed)
        {
            return false;
        }

        if (!VarInt.TryReadInt32(_remaining, out int length, out int n) || length < 0 || length > _remaining.Length - n)
        {
            return Fail();
        }

        ReadOnlySpan<byte> body = _remaining.Slice(n, length);
        _remaining = _remaining[(n + length)..];
        int p = 1; // attributes
        if (body.Length < 1 ||
            !VarInt.TryReadInt64(body[p..], out long timestampDelta, out n))
        {
            return Fail();
        }

        p += n;
        if (!VarInt.TryReadInt32(body[p..], out int offsetDelta, out n))
        {
            return Fail();
        }

        p += n;
        if (!TryReadBytes(body, ref p, out int keyStart, out int keyLength) ||
            !TryReadBytes(body, ref p, out int valueStart, out int valueLength) ||
            !VarInt.TryReadInt32(body[p..], out int headerCount, out n) || headerCount < 0)
        {
            return Fail();
        }

        p += n;
        record = new RecordView(timestampDelta, offsetDelta,
            keyLength < 0 ? default : body.Slice(keyStart, keyLength), keyLength < 0,
            valueLength < 0 ? default : body.Slice(valueStart, valueLength), valueLength < 0,
            headerCount, body[p..]);
        return true;
    }

    private bool Fail()
    {
        IsMalformed = true;
        return false;
    }

    /// <summary>Reads a varint length and skips the bytes; length -1 means null.</summary>
    private static bool TryReadBytes(ReadOnlySpan<byte> body, ref int p, out int start, out int length)
    {
        start = 0;
        if (!VarInt.TryReadInt32(body[p..], out length, out int n) || length < -1 || length > body.Length - p - n)
        {
            return false;
        }

        p += n;
        start = p;
        p += Math.Max(length, 0);
        return true;
    }
}
