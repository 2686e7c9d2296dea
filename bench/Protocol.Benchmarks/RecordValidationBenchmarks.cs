using BenchmarkDotNet.Attributes;
using LogBroker.Protocol.Records;

namespace LogBroker.Protocol.Benchmarks;

/// <summary>
/// What the produce path's record walk costs per batch: the header + CRC check alone (what Produce did
/// before) against header + CRC + <see cref="RecordValidator"/> (what it does now), for batches of
/// 100-byte records of 16 KiB and 1 MiB (uncompressed record bytes) in each codec. Values are JSON-like
/// text with varying digits, so the codecs compress them about as much as real payloads.
/// </summary>
[MemoryDiagnoser]
public class RecordValidationBenchmarks
{
    private static readonly TimestampBounds Bounds = new(JsonLikeBatches.Now, long.MaxValue, 3_600_000);

    private byte[] _batch = [];
    private RecordBatchHeader _header;

    [Params(CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd)]
    public CompressionType Codec { get; set; }

    [Params(16 * 1024, 1024 * 1024)]
    public int RecordBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _batch = JsonLikeBatches.Build(RecordBytes, Codec);
        if (RecordBatch.Validate(_batch, out _header, out _) != BatchValidation.Valid ||
            !RecordValidator.Validate(_batch, _header, Bounds, 64 << 20).IsValid)
        {
            throw new InvalidOperationException("setup built an invalid batch");
        }

        Console.WriteLine($"// {Codec} {RecordBytes}: {_header.RecordCount} records, batch {_batch.Length} bytes");
    }

    [Benchmark(Baseline = true)]
    public BatchValidation HeaderAndCrc() => RecordBatch.Validate(_batch, out _, out _);

    [Benchmark]
    public RecordsError HeaderCrcAndRecords()
    {
        RecordBatch.Validate(_batch, out RecordBatchHeader header, out _);
        return RecordValidator.Validate(_batch, header, Bounds, 64 << 20).Error;
    }
}
