using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using LogBroker.Protocol.Compression;
using LogBroker.Protocol.Records;

namespace LogBroker.Protocol.Tests;

/// <summary>Re-encoding a batch for a topic's compression.type: same records, same header, right CRC, bounded.</summary>
public sealed class BatchRecompressorTests
{
    private static readonly CompressionType[] All =
        [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd];

    public static TheoryData<CompressionType, CompressionType> Pairs()
    {
        var data = new TheoryData<CompressionType, CompressionType>();
        foreach (CompressionType source in All)
        {
            foreach (CompressionType target in All)
            {
                if (source != target)
                {
                    data.Add(source, target);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public void A_batch_re_encoded_keeps_its_records_and_header_and_gets_a_valid_crc(CompressionType source, CompressionType target)
    {
        byte[] plain = Idempotent(40);
        byte[] batch = Encode(plain, source, extraAttributes: 0x08); // LogAppendTime flag: kept as it is
        Assert.Equal(BatchValidation.Valid, RecordBatch.Validate(batch, out RecordBatchHeader before, out _));

        using RecompressedBatch? result = BatchRecompressor.Recompress(batch, before, target, 1 << 20);

        Assert.NotNull(result);
        byte[] stored = result.Batch.ToArray();
        Assert.Equal(BatchValidation.Valid, RecordBatch.Validate(stored, out RecordBatchHeader after, out int size));
        Assert.Equal(stored.Length, size);
        Assert.Equal(after, result.Header);
        Assert.Equal(target, after.Compression);
        Assert.Equal(before.Attributes & ~0x7, after.Attributes & ~0x7);
        Assert.Equal(
            (before.BaseOffset, before.PartitionLeaderEpoch, before.LastOffsetDelta, before.BaseTimestamp, before.MaxTimestamp,
                before.ProducerId, before.ProducerEpoch, before.BaseSequence, before.RecordCount),
            (after.BaseOffset, after.PartitionLeaderEpoch, after.LastOffsetDelta, after.BaseTimestamp, after.MaxTimestamp,
                after.ProducerId, after.ProducerEpoch, after.BaseSequence, after.RecordCount));
        Assert.Equal(Convert.ToHexString(plain.AsSpan(RecordBatch.HeaderSize)), Convert.ToHexString(Records(stored)));
        Assert.True(RecordValidator.Validate(stored, after, TimestampBounds.Unbounded, 1 << 20).IsValid);

        var reader = new RecordReader(Records(stored));
        int i = 0;
        while (reader.TryRead(out RecordView record))
        {
            Assert.Equal($"key-{i}", Encoding.UTF8.GetString(record.Key));
            i++;
        }

        Assert.Equal(40, i);
    }

    [Theory]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Zstd)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Snappy)]
    public void Records_that_decompress_past_the_bound_are_refused_not_re_encoded(CompressionType source)
    {
        byte[] plain = Idempotent(64, valueBytes: 32 * 1024); // 2 MiB of records, very compressible
        byte[] batch = Encode(plain, source);
        RecordBatch.Validate(batch, out RecordBatchHeader header, out _);
        Assert.True(batch.Length < 1 << 20);

        using RecompressedBatch? refused = BatchRecompressor.Recompress(batch, header, CompressionType.None, maxDecompressedBytes: 1 << 20);
        using RecompressedBatch? accepted = BatchRecompressor.Recompress(batch, header, CompressionType.None, maxDecompressedBytes: 4 << 20);

        Assert.Null(refused);
        Assert.NotNull(accepted);
        Assert.Equal(plain.Length, accepted.Batch.Length);
    }

    /// <summary>Broker:MaxDecompressedBatchBytes may be int.MaxValue; the decoders' room computation overflowed there (every stream codec failed).</summary>
    [Theory]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Zstd)]
    public void The_largest_bound_decodes(CompressionType source)
    {
        byte[] batch = Encode(Idempotent(10), source);
        RecordBatch.Validate(batch, out RecordBatchHeader header, out _);

        using RecompressedBatch? result = BatchRecompressor.Recompress(batch, header, CompressionType.None, int.MaxValue);

        Assert.NotNull(result);
    }

    [Fact]
    public void Corrupt_compressed_records_are_refused()
    {
        byte[] batch = Encode(Idempotent(10), CompressionType.Zstd);
        batch[^3] ^= 0xFF;
        RecordBatch.WriteCrc(batch);
        RecordBatch.Validate(batch, out RecordBatchHeader header, out _);

        Assert.Null(BatchRecompressor.Recompress(batch, header, CompressionType.Gzip, 1 << 20));
    }

    [Fact]
    public void A_disposed_result_gives_its_buffer_back_once()
    {
        byte[] batch = Idempotent(3);
        RecordBatch.Validate(batch, out RecordBatchHeader header, out _);
        RecompressedBatch result = BatchRecompressor.Recompress(batch, header, CompressionType.Zstd, 1 << 20)!;
        result.Dispose();
        result.Dispose();

        Assert.Throws<ObjectDisposedException>(() => result.Batch.Length);
    }

    [Theory]
    [InlineData("producer", null)]
    [InlineData(null, null)]
    [InlineData("uncompressed", CompressionType.None)]
    [InlineData("gzip", CompressionType.Gzip)]
    [InlineData("snappy", CompressionType.Snappy)]
    [InlineData("lz4", CompressionType.Lz4)]
    [InlineData("zstd", CompressionType.Zstd)]
    public void Topic_compression_types_map_to_codecs(string? config, CompressionType? codec) =>
        Assert.Equal(codec, BatchRecompressor.TopicCodec(config));

    /// <summary>An uncompressed idempotent batch (producer id, epoch, sequence set) of distinct records.</summary>
    private static byte[] Idempotent(int records, int valueBytes = 20)
    {
        var builder = new RecordBatchBuilder { ProducerId = 4242, ProducerEpoch = 3, BaseSequence = 17 };
        byte[] value = new byte[valueBytes];
        for (int i = 0; i < records; i++)
        {
            value.AsSpan().Fill((byte)('a' + (i % 26)));
            builder.Add(1_700_000_000_000 + (i * 7), Encoding.UTF8.GetBytes($"key-{i}"), value);
        }

        return builder.ToArray();
    }

    /// <summary>The uncompressed batch with its records compressed by <paramref name="codec"/>, as a producer sends it.</summary>
    private static byte[] Encode(byte[] plain, CompressionType codec, int extraAttributes = 0)
    {
        var output = new ArrayBufferWriter<byte>();
        output.Write(plain.AsSpan(0, RecordBatch.HeaderSize));
        CompressionCodecs.Compress(codec, plain.AsSpan(RecordBatch.HeaderSize), output);
        byte[] batch = output.WrittenSpan.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.LengthOffset), batch.Length - RecordBatch.LogOverhead);
        BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(RecordBatch.AttributesOffset), (short)((int)codec | extraAttributes));
        RecordBatch.WriteCrc(batch);
        return batch;
    }

    /// <summary>The decoded records section of a batch.</summary>
    private static byte[] Records(byte[] batch)
    {
        RecordBatch.Validate(batch, out RecordBatchHeader header, out _);
        var output = new ArrayBufferWriter<byte>();
        Assert.True(CompressionCodecs.TryDecompress(header.Compression, batch.AsSpan(RecordBatch.HeaderSize), output, 16 << 20, out _));
        return output.WrittenSpan.ToArray();
    }
}
