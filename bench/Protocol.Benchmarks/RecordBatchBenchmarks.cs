using BenchmarkDotNet.Attributes;
using LogBroker.Protocol.Records;

namespace LogBroker.Protocol.Benchmarks;

/// <summary>Validating a produced batch (lengths, magic, count, CRC) at realistic batch sizes: 0 B allocated.</summary>
[MemoryDiagnoser]
public class RecordBatchBenchmarks
{
    private byte[] _batch = [];

    [Params(16 * 1024, 1024 * 1024)]
    public int BatchBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var builder = new RecordBatchBuilder();
        byte[] value = new byte[100];
        for (int i = 0; builder.Count * 110 < BatchBytes; i++)
        {
            builder.Add(1_700_000_000_000 + i, default, value, keyIsNull: true);
        }

        _batch = builder.ToArray();
        if (RecordBatch.Validate(_batch, out _, out _) != BatchValidation.Valid)
        {
            throw new InvalidOperationException("setup built an invalid batch");
        }
    }

    [Benchmark]
    public BatchValidation Validate() => RecordBatch.Validate(_batch, out _, out _);
}
