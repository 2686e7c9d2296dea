using BenchmarkDotNet.Attributes;
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
    private static readonly TimestampBounds Bounds = new(JsonLikeBatches.Now, long.MaxValue, 3_600_000);

    private byte[] _batch = [];

    [Params(CompressionType.None, CompressionType.Lz4)]
    public CompressionType Sent { get; set; }

    [Params(16 * 1024, 1024 * 1024)]
    public int RecordBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _batch = JsonLikeBatches.Build(RecordBytes, Sent);
        RecordBatch.Validate(_batch, out RecordBatchHeader header, out _);
        using RecompressedBatch stored = BatchRecompressor.Recompress(_batch, header, CompressionType.Zstd, 64 << 20)
            ?? throw new InvalidOperationException("setup built a batch that does not re-encode");
        Console.WriteLine($"// sent {Sent} {RecordBytes}: {header.RecordCount} records, {_batch.Length} bytes sent, {stored.Batch.Length} bytes stored as zstd");
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
