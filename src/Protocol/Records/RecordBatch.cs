using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace LogBroker.Protocol.Records;

/// <summary>How a record batch failed validation.</summary>
public enum BatchValidation
{
    /// <summary>The batch is well formed and its CRC matches.</summary>
    Valid = 0,

    /// <summary>Fewer bytes than the 61-byte header, or than the length field announces.</summary>
    Truncated,

    /// <summary>The length field is below the header size or disagrees with the bytes given.</summary>
    InvalidLength,

    /// <summary>The magic byte is not 2.</summary>
    UnsupportedMagic,

    /// <summary>The CRC-32C over attributes..end does not match the stored one.</summary>
    CrcMismatch,

    /// <summary>Record count or last offset delta is negative, or the count cannot fit in the bytes.</summary>
    InvalidRecordCount,
}

/// <summary>Compression codec in bits 0–2 of a batch's attributes.</summary>
public enum CompressionType : byte
{
    None = 0,
    Gzip = 1,
    Snappy = 2,
    Lz4 = 3,
    Zstd = 4,
}

/// <summary>
/// Kafka record batch v2 (magic 2): layout, validation, and the in-place rewrite of the two
/// header fields the broker owns.
/// </summary>
/// <remarks>
/// <code>
/// offset size field                  in CRC
///      0    8 baseOffset             no   (broker writes the assigned offset)
///      8    4 batchLength            no   (bytes after this field)
///     12    4 partitionLeaderEpoch   no   (broker writes its leader epoch)
///     16    1 magic (2)              no
///     17    4 crc (CRC-32C of 21..end)
///     21    2 attributes             yes  (bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control)
///     23    4 lastOffsetDelta        yes
///     27    8 baseTimestamp          yes
///     35    8 maxTimestamp           yes
///     43    8 producerId             yes
///     51    2 producerEpoch          yes
///     53    4 baseSequence           yes
///     57    4 recordCount            yes
///     61    - records (compressed as a whole when the codec is not none)
/// </code>
/// All integers are big-endian. Nothing here decompresses or decodes records.
/// </remarks>
public static class RecordBatch
{
    /// <summary>Size of the fixed header, up to and including the record count.</summary>
    public const int HeaderSize = 61;

    /// <summary>Bytes before the part counted by <c>batchLength</c>: base offset and the length itself.</summary>
    public const int LogOverhead = 12;

    /// <summary>Smallest legal <c>batchLength</c>: a header with no records.</summary>
    public const int MinBatchLength = HeaderSize - LogOverhead;

    /// <summary>The only record format this broker stores and serves.</summary>
    public const byte CurrentMagic = 2;

    public const int BaseOffsetOffset = 0;
    public const int LengthOffset = 8;
    public const int PartitionLeaderEpochOffset = 12;
    public const int MagicOffset = 16;
    public const int CrcOffset = 17;
    public const int AttributesOffset = 21;
    public const int LastOffsetDeltaOffset = 23;
    public const int BaseTimestampOffset = 27;
    public const int MaxTimestampOffset = 35;
    public const int ProducerIdOffset = 43;
    public const int ProducerEpochOffset = 51;
    public const int BaseSequenceOffset = 53;
    public const int RecordCountOffset = 57;

    /// <summary>The smallest encoded record: length, attributes, timestamp delta, offset delta,
    /// key length, value length and header count, one byte each.</summary>
    private const int MinUncompressedRecordSize = 7;

    /// <summary>
    /// Reads the total size of the batch at the start of <paramref name="buffer"/> (12 + batchLength)
    /// from its first 12 bytes, or returns false if fewer than 12 bytes are there or the length is
    /// out of range. Checks nothing else.
    /// </summary>
    public static bool TryReadSize(ReadOnlySpan<byte> buffer, out int totalSize)
    {
        totalSize = 0;
        if (buffer.Length < LogOverhead)
        {
            return false;
        }

        int length = BinaryPrimitives.ReadInt32BigEndian(buffer[LengthOffset..]);
        if (length < MinBatchLength || length > int.MaxValue - LogOverhead)
        {
            return false;
        }

        totalSize = length + LogOverhead;
        return true;
    }

    /// <summary>
    /// Validates the single batch that starts at <paramref name="buffer"/>[0]: length bounds,
    /// magic, record count and CRC. On success <paramref name="header"/> holds the header and
    /// <paramref name="totalSize"/> the batch's size; <paramref name="buffer"/> may continue past it.
    /// </summary>
    public static BatchValidation Validate(ReadOnlySpan<byte> buffer, out RecordBatchHeader header, out int totalSize)
    {
        header = default;
        totalSize = 0;
        if (buffer.Length < HeaderSize)
        {
            return BatchValidation.Truncated;
        }

        int length = BinaryPrimitives.ReadInt32BigEndian(buffer[LengthOffset..]);
        if (length < MinBatchLength || length > int.MaxValue - LogOverhead)
        {
            return BatchValidation.InvalidLength;
        }

        if (length > buffer.Length - LogOverhead)
        {
            return BatchValidation.Truncated;
        }

        if (buffer[MagicOffset] != CurrentMagic)
        {
            return BatchValidation.UnsupportedMagic;
        }

        int size = length + LogOverhead;
        header = RecordBatchHeader.Read(buffer);
        int recordBytes = size - HeaderSize;
        if (header.RecordCount < 0 || header.LastOffsetDelta < 0 ||
            (header.Compression == CompressionType.None && header.RecordCount > recordBytes / MinUncompressedRecordSize))
        {
            return BatchValidation.InvalidRecordCount;
        }

        uint stored = BinaryPrimitives.ReadUInt32BigEndian(buffer[CrcOffset..]);
        if (Crc32C.Compute(buffer[AttributesOffset..size]) != stored)
        {
            return BatchValidation.CrcMismatch;
        }

        totalSize = size;
        return BatchValidation.Valid;
    }

    /// <summary>Writes the broker-owned base offset in place. Outside the CRC: no recompute.</summary>
    public static void SetBaseOffset(Span<byte> batch, long baseOffset) =>
        BinaryPrimitives.WriteInt64BigEndian(batch[BaseOffsetOffset..], baseOffset);

    /// <summary>Writes the broker-owned partition leader epoch in place. Outside the CRC: no recompute.</summary>
    public static void SetPartitionLeaderEpoch(Span<byte> batch, int epoch) =>
        BinaryPrimitives.WriteInt32BigEndian(batch[PartitionLeaderEpochOffset..], epoch);

    /// <summary>Recomputes and stores the CRC after a change to a field inside it.</summary>
    public static void WriteCrc(Span<byte> batch)
    {
        int size = BinaryPrimitives.ReadInt32BigEndian(batch[LengthOffset..]) + LogOverhead;
        BinaryPrimitives.WriteUInt32BigEndian(batch[CrcOffset..], Crc32C.Compute(batch[AttributesOffset..size]));
    }

    /// <summary>Throws the exception used when a caller hands over bytes that are not a batch.</summary>
    [DoesNotReturn]
    public static void ThrowInvalid(BatchValidation reason) =>
        throw new InvalidRecordBatchException(reason);
}

/// <summary>A record batch failed validation.</summary>
public sealed class InvalidRecordBatchException(BatchValidation reason)
    : Exception($"Invalid record batch: {reason}.")
{
    /// <summary>What was wrong with the batch.</summary>
    public BatchValidation Reason { get; } = reason;
}

/// <summary>The decoded fixed header of a record batch v2; a copy, not a view.</summary>
public readonly record struct RecordBatchHeader(
    long BaseOffset,
    int BatchLength,
    int PartitionLeaderEpoch,
    byte Magic,
    uint Crc,
    short Attributes,
    int LastOffsetDelta,
    long BaseTimestamp,
    long MaxTimestamp,
    long ProducerId,
    short ProducerEpoch,
    int BaseSequence,
    int RecordCount)
{
    /// <summary>The batch's total size on disk and on the wire.</summary>
    public int TotalSize => BatchLength + RecordBatch.LogOverhead;

    /// <summary>The offset of the batch's last record.</summary>
    public long LastOffset => BaseOffset + LastOffsetDelta;

    public CompressionType Compression => (CompressionType)(Attributes & 0x7);

    /// <summary>True when the timestamps were set by the broker (LogAppendTime).</summary>
    public bool IsLogAppendTime => (Attributes & 0x8) != 0;

    public bool IsTransactional => (Attributes & 0x10) != 0;

    public bool IsControl => (Attributes & 0x20) != 0;

    /// <summary>Reads the header fields without checking anything; the caller ensures 61 bytes.</summary>
    public static RecordBatchHeader Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadInt64BigEndian(b[RecordBatch.BaseOffsetOffset..]),
        BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.LengthOffset..]),
        BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.PartitionLeaderEpochOffset..]),
        b[RecordBatch.MagicOffset],
        BinaryPrimitives.ReadUInt32BigEndian(b[RecordBatch.CrcOffset..]),
        BinaryPrimitives.ReadInt16BigEndian(b[RecordBatch.AttributesOffset..]),
        BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.LastOffsetDeltaOffset..]),
        BinaryPrimitives.ReadInt64BigEndian(b[RecordBatch.BaseTimestampOffset..]),
        BinaryPrimitives.ReadInt64BigEndian(b[RecordBatch.MaxTimestampOffset..]),
        BinaryPrimitives.ReadInt64BigEndian(b[RecordBatch.ProducerIdOffset..]),
        BinaryPrimitives.ReadInt16BigEndian(b[RecordBatch.ProducerEpochOffset..]),
        BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.BaseSequenceOffset..]),
        BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.RecordCountOffset..]));
}
