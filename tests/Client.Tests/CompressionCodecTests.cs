using System.Buffers;
using System.Buffers.Binary;
using LogBroker.Client.Compression;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.Protocol.Records;
using LogBroker.TestKit;

namespace LogBroker.Client.Tests;

public sealed class CompressionCodecTests
{
    public static TheoryData<CompressionType> Codecs { get; } = [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd];

    public static TheoryData<CompressionType> Compressed { get; } = [CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd];

    private static byte[] Compress(CompressionType codec, ReadOnlySpan<byte> data, int level = -1)
    {
        var output = new ArrayBufferWriter<byte>();
        int n = CompressionCodecs.Compress(codec, data, output, level);
        Assert.Equal(output.WrittenCount, n);
        return output.WrittenSpan.ToArray();
    }

    private static byte[]? Decompress(CompressionType codec, ReadOnlySpan<byte> data, int max = 64 << 20)
    {
        var output = new ArrayBufferWriter<byte>();
        return CompressionCodecs.TryDecompress(codec, data, output, max, out int written)
            ? Assert.IsType<byte[]>(output.WrittenSpan.ToArray()) is { } bytes && bytes.Length == written ? bytes : throw new InvalidOperationException("written mismatch")
            : null;
    }

    private static byte[] Compressible(int size)
    {
        byte[] data = new byte[size];
        for (int i = 0; i < size; i++)
        {
            data[i] = (byte)("the quick brown fox jumps over the lazy dog "[i % 44] + (i / 4096 % 3));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Round_trips_small_large_random_and_compressible_data(CompressionType codec)
    {
        var random = new Random(11);
        foreach (int size in (int[])[1, 17, 4096, 100_000, 1 << 20])
        {
            byte[] noise = new byte[size];
            random.NextBytes(noise);
            foreach (byte[] data in (byte[][])[noise, Compressible(size)])
            {
                Assert.Equal(data, Decompress(codec, Compress(codec, data)));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Compressed))]
    public void Compressible_data_gets_smaller(CompressionType codec) =>
        Assert.True(Compress(codec, Compressible(1 << 20)).Length < (1 << 20) / 4);

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Decompression_beyond_the_bound_fails_instead_of_growing(CompressionType codec)
    {
        byte[] compressed = Compress(codec, Compressible(1 << 20));
        Assert.Null(Decompress(codec, compressed, max: (1 << 20) - 1));
        Assert.NotNull(Decompress(codec, compressed, max: 1 << 20));
    }

    [Theory]
    [MemberData(nameof(Compressed))]
    public void Truncated_or_corrupted_input_never_throws(CompressionType codec)
    {
        byte[] data = Compressible(3000);
        byte[] compressed = Compress(codec, data);
        for (int length = 0; length < compressed.Length; length++)
        {
            byte[]? result = Decompress(codec, compressed.AsSpan(0, length), max: 1 << 16);
            Assert.True(result is null || result.Length <= data.Length, "a truncated input never yields more than the original");
        }

        var random = new Random(5);
        for (int i = 0; i < 300; i++)
        {
            byte[] damaged = (byte[])compressed.Clone();
            for (int flips = random.Next(1, 4); flips > 0; flips--)
            {
                damaged[random.Next(damaged.Length)] ^= (byte)random.Next(1, 256);
            }

            _ = Decompress(codec, damaged, max: 1 << 16); // false or some bytes; never an exception
        }

        byte[] garbage = new byte[1000];
        random.NextBytes(garbage);
        _ = Decompress(codec, garbage, max: 1 << 16);
    }

    [Fact]
    public void Gzip_cut_anywhere_is_refused_not_half_read()
    {
        byte[] compressed = Compress(CompressionType.Gzip, Compressible(3000));
        for (int length = 0; length < compressed.Length; length++)
        {
            Assert.Null(Decompress(CompressionType.Gzip, compressed.AsSpan(0, length)));
        }
    }

    [Fact]
    public void Snappy_writes_the_xerial_framing_and_reads_a_raw_block_too()
    {
        byte[] data = Compressible(100_000);
        byte[] framed = Compress(CompressionType.Snappy, data);
        Assert.Equal([0x82, (byte)'S', (byte)'N', (byte)'A', (byte)'P', (byte)'P', (byte)'Y', 0], framed[..8]);
        Assert.Equal(1, BinaryPrimitives.ReadInt32BigEndian(framed.AsSpan(8)));
        Assert.Equal(1, BinaryPrimitives.ReadInt32BigEndian(framed.AsSpan(12)));

        byte[] raw = Snappier.Snappy.CompressToArray(data);
        Assert.Equal(data, Decompress(CompressionType.Snappy, raw));
    }

    [Fact]
    public void Lz4_frames_have_independent_blocks_as_Kafka_writes_them()
    {
        byte[] frame = Compress(CompressionType.Lz4, Compressible(200_000));
        Assert.Equal(0x184D2204u, BinaryPrimitives.ReadUInt32LittleEndian(frame));
        byte flags = frame[4];
        Assert.Equal(0x40, flags & 0xC0); // version 01
        Assert.NotEqual(0, flags & 0x20); // block independence
    }

    public static TheoryData<string, string, CompressionType> CompressedFrames { get; } = Frames();

    private static TheoryData<string, string, CompressionType> Frames()
    {
        var data = new TheoryData<string, string, CompressionType>();
        foreach (ProduceFrame f in GoldenFrame.ProduceFrames)
        {
            if (f.Codec != CompressionType.None)
            {
                data.Add(f.Client, f.Stem, f.Codec);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CompressedFrames))]
    public void Batches_compressed_by_real_clients_decompress_to_their_records(string client, string stem, CompressionType codec)
    {
        byte[] frame = GoldenFrame.Request(client, stem);
        var reader = new KafkaReader(frame.AsMemory());
        RequestHeader header = RequestHeader.Read(ref reader);
        var request = new ProduceRequest();
        request.Read(ref reader, header.ApiVersion);
        Assert.False(reader.Failed);
        ReadOnlyMemory<byte> batch = request.TopicData[0].PartitionData[0].Records!.Value;
        Assert.Equal(BatchValidation.Valid, RecordBatch.Validate(batch.Span, out RecordBatchHeader batchHeader, out _));
        Assert.Equal(codec, batchHeader.Compression);

        byte[] records = Decompress(codec, batch.Span[RecordBatch.HeaderSize..]) ?? throw new InvalidDataException("did not decompress");
        Assert.Equal(batchHeader.RecordCount, CountRecords(records));

        // Our own compression of the same records reads back identically.
        Assert.Equal(records, Decompress(codec, Compress(codec, records)));
    }

    private static int CountRecords(byte[] records)
    {
        var reader = new RecordReader(records);
        int count = 0;
        while (reader.TryRead(out RecordView r))
        {
            Assert.False(r.ValueIsNull);
            count++;
        }

        Assert.False(reader.IsMalformed);
        return count;
    }
}
