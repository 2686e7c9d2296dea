using System.Buffers;
using LogBroker.Protocol.Compression;
using LogBroker.Protocol.Primitives;

namespace LogBroker.Protocol.Records;

/// <summary>What <see cref="RecordValidator.Validate"/> found wrong with a batch's records.</summary>
public enum RecordsError : byte
{
    /// <summary>Every record is well formed and agrees with the header.</summary>
    None = 0,

    /// <summary>The compressed data cannot be decoded (malformed or cut short). Kafka: CORRUPT_MESSAGE.</summary>
    CorruptCompressedData,

    /// <summary>The records decompress to more than the limit given (a decompression bomb).</summary>
    DecompressedTooLarge,

    /// <summary>The codec bits name no known codec.</summary>
    UnknownCompression,

    /// <summary>A record's framing is wrong: a length, varint or count out of bounds, or a record
    /// shorter or longer than its length says.</summary>
    MalformedRecord,

    /// <summary>More or fewer records than the header's record count (also: bytes after the last record).</summary>
    RecordCountMismatch,

    /// <summary>The header's last offset delta is not record count − 1.</summary>
    LastOffsetDeltaMismatch,

    /// <summary>A record's offset delta is not its index (Kafka clients write 0..n−1).</summary>
    OffsetDeltaMismatch,

    /// <summary>The header's max timestamp is above every record's timestamp (CreateTime).</summary>
    MaxTimestampMismatch,

    /// <summary>A timestamp is outside [now − before.max, now + after.max]. Kafka: INVALID_TIMESTAMP.</summary>
    TimestampOutOfRange,
}

/// <summary>The outcome of a record walk: the error, the index of the record it concerns and a value (a
/// count, an offset delta or a timestamp, depending on the error).</summary>
public readonly record struct RecordsCheck(RecordsError Error, int RecordIndex = -1, long Value = 0)
{
    public bool IsValid => Error == RecordsError.None;

    /// <summary>A message for the produce response (allocates; for the error path only).</summary>
    public string Describe(in RecordBatchHeader header, in TimestampBounds bounds) => Error switch
    {
        RecordsError.None => "Valid.",
        RecordsError.CorruptCompressedData => $"The {header.Compression} data of the batch cannot be decompressed (malformed or truncated).",
        RecordsError.DecompressedTooLarge => $"The {header.Compression} records decompress to more than {Value} bytes.",
        RecordsError.UnknownCompression => $"Unknown compression type {(int)header.Compression}.",
        RecordsError.MalformedRecord => $"Record {RecordIndex} of the batch is malformed (bad length, varint or count).",
        RecordsError.RecordCountMismatch => $"The batch declares {header.RecordCount} records but holds {(Value < 0 ? "more data than that" : Value.ToString(System.Globalization.CultureInfo.InvariantCulture))}.",
        RecordsError.LastOffsetDeltaMismatch => $"Last offset delta {header.LastOffsetDelta} does not match record count {header.RecordCount}.",
        RecordsError.OffsetDeltaMismatch => $"Record {RecordIndex} has offset delta {Value}; expected {RecordIndex}.",
        RecordsError.MaxTimestampMismatch => $"The batch's max timestamp {header.MaxTimestamp} is above its records' largest timestamp {Value}.",
        RecordsError.TimestampOutOfRange => $"Timestamp {Value} of record {RecordIndex} is out of range. The timestamp should be within [{bounds.Min}, {bounds.Max}].",
        _ => Error.ToString(),
    };
}

/// <summary>
/// The accepted timestamp window of Kafka's <c>message.timestamp.before.max.ms</c> and
/// <c>message.timestamp.after.max.ms</c> around <paramref name="Now"/> (milliseconds since the epoch).
/// </summary>
public readonly record struct TimestampBounds(long Now, long BeforeMaxMs, long AfterMaxMs)
{
    /// <summary>Every timestamp accepted.</summary>
    public static TimestampBounds Unbounded => new(0, long.MaxValue, long.MaxValue);

    /// <summary>The earliest timestamp accepted (saturating).</summary>
    public long Min => Now < long.MinValue + Math.Max(BeforeMaxMs, 0) ? long.MinValue : Now - Math.Max(BeforeMaxMs, 0);

    /// <summary>The latest timestamp accepted (saturating).</summary>
    public long Max => Now > long.MaxValue - Math.Max(AfterMaxMs, 0) ? long.MaxValue : Now + Math.Max(AfterMaxMs, 0);
}

/// <summary>
/// Walks the records of one batch (that has passed <see cref="RecordBatch.Validate"/>) and checks that
/// they are what the header claims, as Kafka's LogValidator does for client produce: the record count
/// equals the records present; each record's length, attributes, timestamp and offset delta varints, key,
/// value and header lengths lie inside the record; no bytes trail the last record; offset deltas are
/// 0..n−1 in order and the last offset delta is n−1; timestamps lie inside <see cref="TimestampBounds"/>
/// (CreateTime: every record's, −1 exempt; LogAppendTime: the header's max timestamp); the header's max
/// timestamp is not above the records' real maximum.
/// </summary>
/// <remarks>
/// Uncompressed records are read in place, allocation-free. Compressed records are streamed through the
/// codec's decoder into a pooled 64 KiB window: no decompressed copy of the batch or of any record is
/// kept, and decoding stops as soon as more than <c>maxDecompressedBytes</c> come out. Kafka differs in
/// two places: it rewrites a batch whose inner offsets are not 0..n−1 (here: refused) and it overwrites
/// the header's max timestamp with the records' maximum (here: a higher one is refused, a lower one kept).
/// </remarks>
public static class RecordValidator
{
    /// <summary>attributes, timestamp delta, offset delta, key length, value length, header count: one byte each.</summary>
    private const int MinRecordBody = 6;

    private const int WindowSize = 64 * 1024;

    /// <summary>
    /// Checks the records of <paramref name="batch"/> (one whole batch, validated) against
    /// <paramref name="header"/>. <paramref name="maxDecompressedBytes"/> bounds the output of a
    /// compressed batch.
    /// </summary>
    public static RecordsCheck Validate(ReadOnlySpan<byte> batch, in RecordBatchHeader header, in TimestampBounds timestamps, long maxDecompressedBytes)
    {
        if (header.RecordCount <= 0 || header.LastOffsetDelta != header.RecordCount - 1)
        {
            return new RecordsCheck(RecordsError.LastOffsetDeltaMismatch);
        }

        if (header.IsLogAppendTime && header.MaxTimestamp != -1 &&
            (header.MaxTimestamp < timestamps.Min || header.MaxTimestamp > timestamps.Max))
        {
            return new RecordsCheck(RecordsError.TimestampOutOfRange, -1, header.MaxTimestamp);
        }

        if (header.Compression > CompressionType.Zstd)
        {
            return new RecordsCheck(RecordsError.UnknownCompression);
        }

        ReadOnlySpan<byte> body = batch[RecordBatch.HeaderSize..header.TotalSize];
        if (header.Compression == CompressionType.None || body.IsEmpty) // nothing to decode: no records
        {
            var source = new SpanSource(body);
            return Walk(ref source, header, timestamps);
        }

        return ValidateCompressed(body, header, timestamps, maxDecompressedBytes);
    }

    private static unsafe RecordsCheck ValidateCompressed(ReadOnlySpan<byte> body, in RecordBatchHeader header, in TimestampBounds timestamps, long maxDecompressedBytes)
    {
        byte[] window = ArrayPool<byte>.Shared.Rent(WindowSize);
        try
        {
            fixed (byte* p = body)
            {
                Stream decoder;
                try
                {
                    decoder = CompressionCodecs.OpenDecoder(header.Compression, p, body.Length, maxDecompressedBytes);
                }
                catch (Exception e) when (CompressionCodecs.IsDecodeFailure(e))
                {
                    return new RecordsCheck(RecordsError.CorruptCompressedData);
                }

                using (decoder)
                {
                    var source = new StreamSource(decoder, window, maxDecompressedBytes);
                    RecordsCheck check = Walk(ref source, header, timestamps);
                    if (source.Failed)
                    {
                        return new RecordsCheck(RecordsError.CorruptCompressedData, check.RecordIndex);
                    }

                    if (source.TooLarge)
                    {
                        return new RecordsCheck(RecordsError.DecompressedTooLarge, check.RecordIndex, maxDecompressedBytes);
                    }

                    // GZipStream ends a stream cut short without an error; the trailer's ISIZE tells.
                    if ((check.IsValid || source.AtEnd) && header.Compression == CompressionType.Gzip &&
                        !CompressionCodecs.GzipLengthMatches(body, source.Total))
                    {
                        return new RecordsCheck(RecordsError.CorruptCompressedData);
                    }

                    return check;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(window);
        }
    }

    private static RecordsCheck Walk<TSource>(ref TSource source, in RecordBatchHeader header, in TimestampBounds timestamps)
        where TSource : IRecordSource, allows ref struct
    {
        int count = header.RecordCount;
        bool createTime = !header.IsLogAppendTime;
        long baseTimestamp = header.BaseTimestamp;
        long min = timestamps.Min;
        long max = timestamps.Max;
        long realMax = -1; // Kafka's NO_TIMESTAMP: the max of a batch without timestamps
        int i = 0;
        for (; source.HasMore(); i++)
        {
            if (i == count)
            {
                return new RecordsCheck(RecordsError.RecordCountMismatch, i, -1);
            }

            if (!source.TryReadVarInt32(out int length) || length < MinRecordBody)
            {
                return new RecordsCheck(RecordsError.MalformedRecord, i);
            }

            long end = source.Position + length;
            if (!source.TrySkip(1) || // attributes: unused in v2, any value (as Kafka)
                !source.TryReadVarInt64(out long timestampDelta) ||
                !source.TryReadVarInt32(out int offsetDelta))
            {
                return new RecordsCheck(RecordsError.MalformedRecord, i);
            }

            if (offsetDelta != i)
            {
                return new RecordsCheck(RecordsError.OffsetDeltaMismatch, i, offsetDelta);
            }

            if (!SkipBytes(ref source, end, nullable: true) || // key
                !SkipBytes(ref source, end, nullable: true) || // value
                !source.TryReadVarInt32(out int headerCount) || headerCount < 0 ||
                headerCount > (end - source.Position) / 2)
            {
                return new RecordsCheck(RecordsError.MalformedRecord, i);
            }

            for (int h = 0; h < headerCount; h++)
            {
                if (!SkipBytes(ref source, end, nullable: false) || !SkipBytes(ref source, end, nullable: true))
                {
                    return new RecordsCheck(RecordsError.MalformedRecord, i);
                }
            }

            if (source.Position != end)
            {
                return new RecordsCheck(RecordsError.MalformedRecord, i);
            }

            if (createTime)
            {
                long timestamp = unchecked(baseTimestamp + timestampDelta);
                if (timestamp != -1 && (timestamp < min || timestamp > max))
                {
                    return new RecordsCheck(RecordsError.TimestampOutOfRange, i, timestamp);
                }

                realMax = Math.Max(realMax, timestamp);
            }
        }

        if (i != count)
        {
            return new RecordsCheck(RecordsError.RecordCountMismatch, i, i);
        }

        return createTime && header.MaxTimestamp > realMax
            ? new RecordsCheck(RecordsError.MaxTimestampMismatch, -1, realMax)
            : default;
    }

    /// <summary>Skips a varint-length-prefixed byte string that must end by <paramref name="end"/>; −1 is null.</summary>
    private static bool SkipBytes<TSource>(ref TSource source, long end, bool nullable)
        where TSource : IRecordSource, allows ref struct
    {
        if (!source.TryReadVarInt32(out int length) || length < (nullable ? -1 : 0) || length > end - source.Position)
        {
            return false;
        }

        return length <= 0 || source.TrySkip(length);
    }
}

/// <summary>A forward-only byte source the record walk reads from.</summary>
internal interface IRecordSource
{
    /// <summary>Bytes consumed so far.</summary>
    long Position { get; }

    /// <summary>True while at least one more byte can be read.</summary>
    bool HasMore();

    bool TryReadVarInt32(out int value);

    bool TryReadVarInt64(out long value);

    bool TrySkip(int count);
}

/// <summary>Records in place in memory.</summary>
internal ref struct SpanSource(ReadOnlySpan<byte> data) : IRecordSource
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;

    public readonly long Position => _position;

    public readonly bool HasMore() => _position < _data.Length;

    public bool TryReadVarInt32(out int value)
    {
        // Most varints in a record (deltas, small lengths, header count) are one byte.
        if ((uint)_position < (uint)_data.Length && _data[_position] < 0x80)
        {
            int b = _data[_position++];
            value = (b >> 1) ^ -(b & 1);
            return true;
        }

        if (!VarInt.TryReadInt32(_data[_position..], out value, out int n))
        {
            return false;
        }

        _position += n;
        return true;
    }

    public bool TryReadVarInt64(out long value)
    {
        if ((uint)_position < (uint)_data.Length && _data[_position] < 0x80)
        {
            int b = _data[_position++];
            value = (b >> 1) ^ -(b & 1);
            return true;
        }

        if (!VarInt.TryReadInt64(_data[_position..], out value, out int n))
        {
            return false;
        }

        _position += n;
        return true;
    }

    public bool TrySkip(int count)
    {
        if (count > _data.Length - _position)
        {
            return false;
        }

        _position += count;
        return true;
    }
}

/// <summary>
/// Records streamed out of a decoder through a fixed window: at most <c>window.Length</c> decompressed
/// bytes are held at once; decoding stops (<see cref="TooLarge"/>) past the limit and on a decoder
/// error (<see cref="Failed"/>).
/// </summary>
internal ref struct StreamSource(Stream decoder, byte[] window, long maxBytes) : IRecordSource
{
    private readonly Stream _decoder = decoder;
    private readonly byte[] _window = window;
    private readonly long _maxBytes = maxBytes;
    private long _windowBase;
    private int _start;
    private int _end;
    private bool _eof;

    /// <summary>The decoder threw: the compressed data is malformed or truncated.</summary>
    public bool Failed { get; private set; }

    /// <summary>More than the limit came out of the decoder.</summary>
    public bool TooLarge { get; private set; }

    /// <summary>The decoder reported the end of its output.</summary>
    public readonly bool AtEnd => _eof;

    /// <summary>Decompressed bytes read so far.</summary>
    public long Total { get; private set; }

    public readonly long Position => _windowBase + _start;

    public bool HasMore() => Ensure(1);

    public bool TryReadVarInt32(out int value)
    {
        Ensure(5);
        if (!VarInt.TryReadInt32(_window.AsSpan(_start, _end - _start), out value, out int n))
        {
            return false;
        }

        _start += n;
        return true;
    }

    public bool TryReadVarInt64(out long value)
    {
        Ensure(10);
        if (!VarInt.TryReadInt64(_window.AsSpan(_start, _end - _start), out value, out int n))
        {
            return false;
        }

        _start += n;
        return true;
    }

    public bool TrySkip(int count)
    {
        while (count > 0)
        {
            if (_start == _end && !Ensure(1))
            {
                return false;
            }

            int n = Math.Min(count, _end - _start);
            _start += n;
            count -= n;
        }

        return true;
    }

    /// <summary>Fills the window until <paramref name="bytes"/> are available; false at the end or on failure.</summary>
    private bool Ensure(int bytes)
    {
        while (_end - _start < bytes)
        {
            if (_eof || Failed || TooLarge)
            {
                return false;
            }

            if (_start > 0)
            {
                int kept = _end - _start;
                _window.AsSpan(_start, kept).CopyTo(_window);
                _windowBase += _start;
                _start = 0;
                _end = kept;
            }

            int read;
            try
            {
                read = _decoder.Read(_window.AsSpan(_end));
            }
            catch (DecompressionLimitException)
            {
                TooLarge = true;
                return false;
            }
            catch (Exception e) when (CompressionCodecs.IsDecodeFailure(e))
            {
                Failed = true;
                return false;
            }

            if (read == 0)
            {
                _eof = true;
                return _end - _start >= bytes;
            }

            _end += read;
            Total += read;
            if (Total > _maxBytes)
            {
                TooLarge = true;
                return false;
            }
        }

        return true;
    }
}
