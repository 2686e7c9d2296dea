using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using BenchmarkDotNet.Attributes;
using LogBroker.Protocol.Compression;
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
    private const long Now = 1_700_000_000_000;
    private static readonly TimestampBounds Bounds = new(Now, long.MaxValue, 3_600_000);

    private byte[] _batch = [];
    private RecordBatchHeader _header;

    [Params(CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd)]
    public CompressionType Codec { get; set; }

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
            byte[] value = Encoding.ASCII.GetBytes(json.PadRight(100, ' ')[..100]);
            builder.Add(Now + i, default, value, keyIsNull: true);
        }

        byte[] plain = builder.ToArray();
        _batch = Codec == CompressionType.None ? plain : Compress(plain, Codec);
        if (RecordBatch.Validate(_batch, out _header, out _) != BatchValidation.Valid ||
            !RecordValidator.Validate(_batch, _header, Bounds, 64 << 20).IsValid)
        {
            throw new InvalidOperationException("setup built an invalid batch");
        }

        Console.WriteLine($"// {Codec} {RecordBytes}: {_header.RecordCount} records, batch {_batch.Length} bytes");
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

    [Benchmark(Baseline = true)]
    public BatchValidation HeaderAndCrc() => RecordBatch.Validate(_batch, out _, out _);

    [Benchmark]
    public RecordsError HeaderCrcAndRecords()
    {
        RecordBatch.Validate(_batch, out RecordBatchHeader header, out _);
        return RecordValidator.Validate(_batch, header, Bounds, 64 << 20).Error;
    }
}
