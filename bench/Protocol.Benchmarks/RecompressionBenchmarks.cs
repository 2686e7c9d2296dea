using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using BenchmarkDotNet.Attributes;
using LogBroker.Protocol.Compression;
using LogBroker.Protocol.Records;

namespace LogBroker.Protocol.Benchmarks;

/// <summary>
/// What a topic's compression.type=zstd costs Produce per batch: the checks every batch gets (header,
/// CRC-32C and the record walk: a topic with compression.type=producer) against the same checks plus
/// <see cref="BatchRecompressor.Recompress"/> to zstd, for batches of 100-byte JSON-like records of
/// 16 KiB and 1 MiB (uncompressed record bytes) sent uncompressed or with lz4.
/// </summary>
[MemoryDiagnoser]
public class RecompressionBenchmarks
{
    private const long Now = 1_700_000_000_000;
    private static readonly TimestampBounds Bounds = new(Now, long.MaxValue, 3_600_000);

    private byte[] _batch = [];

    [Params(CompressionType.None, CompressionType.Lz4)]
    public CompressionType Sent { get; set; }

    [Params(16 * 1024, 1024 * 1024)]
    public int RecordBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var builder = new RecordBatchBuilder();
        var random = new Random(42);
        for (int i = 0; builder.Count * 110 < RecordBytes; i++)
        {
            string json = $"{{\"id\":{random.Next(1_000_000)},\"user\":\"u{random.Next(5000)}\",\"ts\":{Now + i},\"amount\":{random.Next(100000) / 100.0:F2},\"ok\":true}}";
            builder.Add(Now + i, default, Encoding.ASCII.GetBytes(json.PadRight(100, ' ')[..100]), keyIsNull: true);
        }

        byte[] plain = builder.ToArray();
        _batch = Sent == CompressionType.None ? plain : Compress(plain, Sent);
        RecordBatch.Validate(_batch, out RecordBatchHeader header, out _);
        using RecompressedBatch stored = BatchRecompressor.Recompress(_batch, header, CompressionType.Zstd, 64 << 20)
            ?? throw new InvalidOperationException("setup built a batch that does not re-encode");
        Console.WriteLine($"// sent {Sent} {RecordBytes}: {header.RecordCount} records, {_batch.Length} bytes sent, {stored.Batch.Length} bytes stored as zstd");
    }

    private static byte[] Compress(byte[] plain, CompressionType codec)
    {
        var body = new ArrayBufferWriter<byte>();
        CompressionCodecs.Compress(codec, plain.AsSpan(RecordBatch.HeaderSize), body);
        byte[] batch = new byte[RecordBatch.HeaderSize + body.WrittenCount];
        plain.AsSpan(0, RecordBatch.HeaderSize).CopyTo(batch);
        body.WrittenSpan.CopyTo(batch.AsSpan(RecordBatch.HeaderSize));
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.LengthOffset), batch.Length - RecordBatch.LogOverhead);
        BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(RecordBatch.AttributesOffset), (short)codec);
        RecordBatch.WriteCrc(batch);
        return batch;
    }

    /// <summary>compression.type=producer: the batch is checked and stored as sent.</summary>
    [Benchmark(Baseline = true)]
    public RecordsError AsSent()
    {
        RecordBatch.Validate(_batch, out RecordBatchHeader header, out _);
        return RecordValidator.Validate(_batch, header, Bounds, 64 << 20).Error;
    }

    /// <summary>compression.type=zstd: checked, then re-encoded (what Produce then stores).</summary>
    [Benchmark]
    public int ReencodedAsZstd()
    {
        RecordBatch.Validate(_batch, out RecordBatchHeader header, out _);
        RecordValidator.Validate(_batch, header, Bounds, 64 << 20);
        using RecompressedBatch stored = BatchRecompressor.Recompress(_batch, header, CompressionType.Zstd, 64 << 20)!;
        return stored.Batch.Length;
    }
}
