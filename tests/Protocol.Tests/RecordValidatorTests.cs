using System.Buffers;
using System.Buffers.Binary;
using LogBroker.Protocol.Compression;
using LogBroker.Protocol.Primitives;
using LogBroker.Protocol.Records;
using LogBroker.TestKit;

namespace LogBroker.Protocol.Tests;

public sealed class RecordValidatorTests
{
    private const long Now = 1_700_000_000_000;
    private const long Limit = 16 * 1024 * 1024;

    private static readonly TimestampBounds Bounds = new(Now, long.MaxValue, 3_600_000);

    public static TheoryData<CompressionType> Codecs { get; } =
        [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd];

    public static TheoryData<CompressionType> Compressed { get; } =
        [CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd];

    /// <summary>One record's bytes, every field given; <paramref name="length"/> overrides the computed body length.</summary>
    private static byte[] Record(int offsetDelta, long timestampDelta = 0, byte[]? key = null, byte[]? value = null,
        int? keyLength = null, int? valueLength = null, int? headerCount = null, byte[]? headers = null, int? length = null,
        byte[]? extra = null)
    {
        var body = new ArrayBufferWriter<byte>();
        Span<byte> scratch = stackalloc byte[10];
        body.Write((ReadOnlySpan<byte>)[0]); // attributes
        body.Write(scratch[..VarInt.WriteInt64(scratch, timestampDelta)]);
        body.Write(scratch[..VarInt.WriteInt32(scratch, offsetDelta)]);
        body.Write(scratch[..VarInt.WriteInt32(scratch, keyLength ?? key?.Length ?? -1)]);
        body.Write((key ?? []).AsSpan());
        body.Write(scratch[..VarInt.WriteInt32(scratch, valueLength ?? value?.Length ?? -1)]);
        body.Write((value ?? []).AsSpan());
        body.Write(scratch[..VarInt.WriteInt32(scratch, headerCount ?? 0)]);
        body.Write((headers ?? []).AsSpan());
        body.Write((extra ?? []).AsSpan());
        var record = new ArrayBufferWriter<byte>();
        record.Write(scratch[..VarInt.WriteInt32(scratch, length ?? body.WrittenCount)]);
        record.Write(body.WrittenSpan);
        return record.WrittenSpan.ToArray();
    }

    private static byte[] Varint(int v)
    {
        byte[] b = new byte[5];
        return b[..VarInt.WriteInt32(b, v)];
    }

    /// <summary>A batch around <paramref name="records"/>, compressed with <paramref name="codec"/>, CRC right.</summary>
    private static byte[] Batch(CompressionType codec, byte[] records, int count, int? lastOffsetDelta = null,
        long baseTimestamp = Now, long? maxTimestamp = null, bool logAppendTime = false)
    {
        var body = new ArrayBufferWriter<byte>();
        if (codec == CompressionType.None)
        {
            body.Write(records);
        }
        else
        {
            CompressionCodecs.Compress(codec, records, body);
        }

        return Frame(codec, body.WrittenSpan, count, lastOffsetDelta ?? count - 1, baseTimestamp, maxTimestamp ?? baseTimestamp, logAppendTime);
    }

    private static byte[] Frame(CompressionType codec, ReadOnlySpan<byte> body, int count, int lastOffsetDelta, long baseTimestamp, long maxTimestamp, bool logAppendTime = false)
    {
        byte[] batch = new byte[RecordBatch.HeaderSize + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.LengthOffset), batch.Length - RecordBatch.LogOverhead);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.PartitionLeaderEpochOffset), -1);
        batch[RecordBatch.MagicOffset] = 2;
        BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(RecordBatch.AttributesOffset), (short)((int)codec | (logAppendTime ? 8 : 0)));
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.LastOffsetDeltaOffset), lastOffsetDelta);
        BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatch.BaseTimestampOffset), baseTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatch.MaxTimestampOffset), maxTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatch.ProducerIdOffset), -1);
        BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(RecordBatch.ProducerEpochOffset), -1);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.BaseSequenceOffset), -1);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.RecordCountOffset), count);
        body.CopyTo(batch.AsSpan(RecordBatch.HeaderSize));
        RecordBatch.WriteCrc(batch);
        return batch;
    }

    private static RecordsCheck Check(byte[] batch, TimestampBounds? bounds = null, long limit = Limit)
    {
        // The header check may already refuse an uncompressed count the bytes cannot hold; the record
        // walk must refuse it on its own too.
        BatchValidation validation = RecordBatch.Validate(batch, out _, out _);
        Assert.True(validation == BatchValidation.Valid ||
            (validation == BatchValidation.InvalidRecordCount && (batch[RecordBatch.AttributesOffset + 1] & 7) == 0), validation.ToString());
        return RecordValidator.Validate(batch, RecordBatchHeader.Read(batch), bounds ?? Bounds, limit);
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private static byte[] Builder(CompressionType codec, int records, int valueBytes = 100)
    {
        byte[] batch = Batches.Create(records, valueBytes, Now);
        RecordBatchHeader header = RecordBatchHeader.Read(batch);
        return codec == CompressionType.None
            ? batch
            : Batch(codec, batch[RecordBatch.HeaderSize..], header.RecordCount, header.LastOffsetDelta, header.BaseTimestamp, header.MaxTimestamp);
    }

    public static TheoryData<string, string, CompressionType, bool> Frames()
    {
        var data = new TheoryData<string, string, CompressionType, bool>();
        foreach (ProduceFrame frame in GoldenFrame.ProduceFrames)
        {
            data.Add(frame.Client, frame.Stem, frame.Codec, frame.Idempotent);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Frames))]
    public void Batches_from_real_clients_pass_with_their_own_clock(string client, string stem, CompressionType codec, bool idempotent)
    {
        _ = codec;
        _ = idempotent;
        byte[] batch = GoldenFrame.RecordBatchIn(GoldenFrame.Request(client, stem));
        RecordBatchHeader header = RecordBatchHeader.Read(batch);

        Assert.Equal(RecordsError.None, Check(batch, new TimestampBounds(header.MaxTimestamp, long.MaxValue, 3_600_000)).Error);
        // A broker clock two hours behind the producer's: the records are in its future.
        Assert.Equal(RecordsError.TimestampOutOfRange, Check(batch, new TimestampBounds(header.BaseTimestamp - 7_200_000, long.MaxValue, 3_600_000)).Error);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Well_formed_batches_pass_small_and_large(CompressionType codec)
    {
        foreach (int records in (int[])[1, 10, 160, 10_000])
        {
            Assert.Equal(RecordsError.None, Check(Builder(codec, records)).Error);
        }
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Records_with_null_and_empty_keys_values_and_headers_pass(CompressionType codec)
    {
        byte[] headers = Concat(Varint(1), "h"u8.ToArray(), Varint(-1), Varint(0), Varint(2), "vv"u8.ToArray());
        byte[] records = Concat(
            Record(0),
            Record(1, key: [], value: []),
            Record(2, key: [1, 2], value: [3], headerCount: 2, headers: headers));

        Assert.Equal(RecordsError.None, Check(Batch(codec, records, 3)).Error);
    }

    public static TheoryData<CompressionType, string> MalformedShapes()
    {
        var data = new TheoryData<CompressionType, string>();
        foreach (CompressionType codec in (CompressionType[])[CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd])
        {
            foreach (string shape in MalformedRecords.Keys)
            {
                data.Add(codec, shape);
            }
        }

        return data;
    }

    /// <summary>Second records that are framed wrongly, after a good first record.</summary>
    private static readonly Dictionary<string, byte[]> MalformedRecords = new()
    {
        ["length varint overlong"] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        ["length negative"] = Record(1, length: -3),
        ["length below the smallest record"] = Record(1, length: 5),
        ["length past the end"] = Record(1, value: [1, 2, 3], length: 40),
        ["length longer than the fields"] = Record(1, value: [1], extra: [0, 0], length: null),
        ["length shorter than the fields"] = Record(1, value: [1, 2, 3, 4, 5, 6, 7, 8], length: 8),
        ["key length below -1"] = Record(1, keyLength: -2),
        ["key length past the record"] = Record(1, key: [1], keyLength: 50),
        ["value length past the record"] = Record(1, value: [1], valueLength: 1000),
        ["value length int.MaxValue"] = Record(1, value: [1], valueLength: int.MaxValue),
        ["header count negative"] = Record(1, headerCount: -1),
        ["header count past the record"] = Record(1, headerCount: 1_000_000),
        ["header key null"] = Record(1, headerCount: 1, headers: Concat(Varint(-1), Varint(0))),
        ["header value past the record"] = Record(1, headerCount: 1, headers: Concat(Varint(1), [(byte)'k'], Varint(9))),
        ["timestamp delta varint overlong"] = Concat(Varint(12), [0], Enumerable.Repeat((byte)0xFF, 11).ToArray()),
        ["cut inside the record"] = Record(1, value: [1, 2, 3, 4])[..4],
    };

    [Theory]
    [MemberData(nameof(MalformedShapes))]
    public void Every_malformed_record_shape_is_refused_in_every_codec(CompressionType codec, string shape)
    {
        byte[] records = Concat(Record(0, value: [9]), MalformedRecords[shape]);

        RecordsCheck check = Check(Batch(codec, records, 2));

        Assert.Equal(RecordsError.MalformedRecord, check.Error);
        Assert.Equal(1, check.RecordIndex);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void A_record_count_that_disagrees_with_the_records_is_refused(CompressionType codec)
    {
        byte[] three = Concat(Record(0), Record(1), Record(2));

        Assert.Equal(RecordsError.RecordCountMismatch, Check(Batch(codec, three, 4)).Error);
        Assert.Equal(RecordsError.RecordCountMismatch, Check(Batch(codec, three, 2)).Error);
        Assert.Equal(RecordsError.RecordCountMismatch, Check(Batch(codec, Concat(three, [0]), 3)).Error); // a trailing byte
        Assert.Equal(RecordsError.None, Check(Batch(codec, three, 3)).Error);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void The_zero_record_batch_with_a_huge_count_is_refused(CompressionType codec)
    {
        // C2: no records at all, recordCount 2^31-1, lastOffsetDelta 2^31-2.
        byte[] batch = Batch(codec, [], int.MaxValue);
        if (codec == CompressionType.None)
        {
            Assert.Equal(61, batch.Length);
            Assert.Equal(BatchValidation.InvalidRecordCount, RecordBatch.Validate(batch, out _, out _));
            RecordBatchHeader header = RecordBatchHeader.Read(batch);
            Assert.Equal(RecordsError.RecordCountMismatch, RecordValidator.Validate(batch, header, Bounds, Limit).Error);
            return;
        }

        Assert.Equal(RecordsError.RecordCountMismatch, Check(batch).Error);
        // The audit's exact 61-byte form: attributes gzip and no compressed bytes at all.
        byte[] empty = Frame(codec, [], int.MaxValue, int.MaxValue - 1, Now, Now);
        Assert.Equal(61, empty.Length);
        Assert.NotEqual(RecordsError.None, Check(empty).Error);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Offset_deltas_must_be_the_record_indexes(CompressionType codec)
    {
        RecordsCheck gap = Check(Batch(codec, Concat(Record(0), Record(2)), 2));
        Assert.Equal(RecordsError.OffsetDeltaMismatch, gap.Error);
        Assert.Equal(1, gap.RecordIndex);
        Assert.Equal(2, gap.Value);

        Assert.Equal(RecordsError.OffsetDeltaMismatch, Check(Batch(codec, Concat(Record(1), Record(0)), 2)).Error);
        Assert.Equal(RecordsError.OffsetDeltaMismatch, Check(Batch(codec, Concat(Record(0), Record(0)), 2)).Error);
        Assert.Equal(RecordsError.LastOffsetDeltaMismatch, Check(Batch(codec, Concat(Record(0), Record(1)), 2, lastOffsetDelta: 5)).Error);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Timestamps_outside_the_window_are_refused(CompressionType codec)
    {
        long hour = 3_600_000;
        byte[] future = Batch(codec, Concat(Record(0), Record(1, timestampDelta: hour + 1)), 2, maxTimestamp: Now + hour + 1);
        RecordsCheck check = Check(future);
        Assert.Equal(RecordsError.TimestampOutOfRange, check.Error);
        Assert.Equal(1, check.RecordIndex);
        Assert.Equal(Now + hour + 1, check.Value);

        byte[] edge = Batch(codec, Concat(Record(0), Record(1, timestampDelta: hour)), 2, maxTimestamp: Now + hour);
        Assert.Equal(RecordsError.None, Check(edge).Error);

        byte[] old = Batch(codec, Concat(Record(0, timestampDelta: -1001), Record(1)), 2, maxTimestamp: Now);
        Assert.Equal(RecordsError.None, Check(old).Error);
        Assert.Equal(RecordsError.TimestampOutOfRange, Check(old, new TimestampBounds(Now, 1000, hour)).Error);

        // -1 (no timestamp) is exempt, as in Kafka.
        byte[] none = Batch(codec, Concat(Record(0), Record(1)), 2, baseTimestamp: -1, maxTimestamp: -1);
        Assert.Equal(RecordsError.None, Check(none, new TimestampBounds(Now, 0, 0)).Error);

        // LogAppendTime batches: the header's max timestamp is what the broker would store.
        byte[] append = Batch(codec, Concat(Record(0), Record(1)), 2, maxTimestamp: long.MaxValue - 1, logAppendTime: true);
        Assert.Equal(RecordsError.TimestampOutOfRange, Check(append).Error);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void A_max_timestamp_above_the_records_is_refused(CompressionType codec)
    {
        byte[] records = Concat(Record(0), Record(1, timestampDelta: 5));

        RecordsCheck check = Check(Batch(codec, records, 2, maxTimestamp: Now + 6));
        Assert.Equal(RecordsError.MaxTimestampMismatch, check.Error);
        Assert.Equal(Now + 5, check.Value);
        Assert.Equal(RecordsError.None, Check(Batch(codec, records, 2, maxTimestamp: Now + 5)).Error);
    }

    [Theory]
    [MemberData(nameof(Compressed))]
    public void A_decompression_bomb_stops_at_the_limit(CompressionType codec)
    {
        // One well-formed record with a 32 MiB value of zeros: a few KiB compressed.
        byte[] value = new byte[32 * 1024 * 1024];
        byte[] batch = Batch(codec, Record(0, value: value), 1);
        Assert.True(batch.Length < 2 * 1024 * 1024, $"{codec} bomb is {batch.Length} bytes");

        long before = GC.GetAllocatedBytesForCurrentThread();
        RecordsCheck check = Check(batch, limit: 1024 * 1024);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(RecordsError.DecompressedTooLarge, check.Error);
        Assert.True(allocated < 4 * 1024 * 1024, $"{codec}: {allocated} bytes allocated");
        Assert.Equal(RecordsError.None, Check(batch, limit: 64 * 1024 * 1024).Error);
    }

    [Theory]
    [MemberData(nameof(Compressed))]
    public void A_truncated_or_damaged_compressed_stream_is_refused(CompressionType codec)
    {
        byte[] good = Builder(codec, 200);
        byte[] body = good[RecordBatch.HeaderSize..];
        RecordBatchHeader header = RecordBatchHeader.Read(good);
        foreach (int cut in (int[])[1, 4, body.Length / 2, body.Length - 1])
        {
            byte[] batch = Frame(codec, body.AsSpan(0, body.Length - cut), header.RecordCount, header.LastOffsetDelta, header.BaseTimestamp, header.MaxTimestamp);
            RecordsCheck check = Check(batch);
            Assert.True(check.Error is RecordsError.CorruptCompressedData, $"{codec} cut by {cut}: {check.Error}");
        }

        byte[] damaged = (byte[])body.Clone();
        for (int i = damaged.Length / 3; i < damaged.Length / 3 + 16; i++)
        {
            damaged[i] ^= 0x5A;
        }

        RecordsCheck garbled = Check(Frame(codec, damaged, header.RecordCount, header.LastOffsetDelta, header.BaseTimestamp, header.MaxTimestamp));
        Assert.NotEqual(RecordsError.None, garbled.Error);
    }

    [Fact]
    public void An_unknown_codec_is_refused()
    {
        byte[] batch = Frame((CompressionType)5, Record(0), 1, 0, Now, Now);
        Assert.Equal(RecordsError.UnknownCompression, Check(batch).Error);
    }

    [Fact]
    public void Uncompressed_validation_allocates_nothing()
    {
        byte[] batch = Builder(CompressionType.None, 1000);
        RecordBatchHeader header = RecordBatchHeader.Read(batch);
        RecordValidator.Validate(batch, header, Bounds, Limit);

        long before = GC.GetAllocatedBytesForCurrentThread();
        RecordsCheck check = RecordValidator.Validate(batch, header, Bounds, Limit);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(RecordsError.None, check.Error);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Timestamp_bounds_saturate()
    {
        Assert.Equal(Now - long.MaxValue, new TimestampBounds(Now, long.MaxValue, 0).Min);
        Assert.Equal(long.MinValue, new TimestampBounds(-10, long.MaxValue, 0).Min);
        Assert.Equal(long.MaxValue, new TimestampBounds(Now, 0, long.MaxValue).Max);
        Assert.Equal(Now - 5, new TimestampBounds(Now, 5, 7).Min);
        Assert.Equal(Now + 7, new TimestampBounds(Now, 5, 7).Max);
    }
}
