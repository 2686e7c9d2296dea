using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;

namespace LogBroker.Storage.Benchmarks;

/// <summary>
/// Reading 1 GiB sequentially with 1 MiB reads (each copied out, as a fetch copies into the socket
/// buffer), against a memcpy of a 1 GiB byte array in 1 MiB pieces. Warm page cache. One operation = 1 GiB.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 2, iterationCount: 7)]
public class ReadBenchmarks
{
    private PartitionLog? _log;
    private byte[] _source = [];
    private readonly byte[] _target = new byte[2 * 1024 * 1024];

    [GlobalSetup]
    public void Setup()
    {
        _log = PartitionLog.Open(Data.LargePartition(1), Data.Config, cleanShutdown: true);
        _source = new byte[1L << 30];
        new Random(4).NextBytes(_source); // every page real memory: untouched pages would all read as the one zero page
    }

    [GlobalCleanup]
    public void Cleanup() => _log?.Dispose();

    [Benchmark(Baseline = true)]
    public void ArrayCopy()
    {
        for (int offset = 0; offset < _source.Length; offset += 1 << 20)
        {
            _source.AsSpan(offset, 1 << 20).CopyTo(_target);
        }
    }

    [Benchmark]
    public long PartitionRead()
    {
        long offset = 0, bytes = 0;
        while (offset < _log!.LogEndOffset)
        {
            using LogReadResult read = _log.Read(offset, 1 << 20);
            read.Records.Span.CopyTo(_target);
            bytes += read.Records.Length;
            offset = NextOffset(read.Records.Span);
        }

        return bytes;
    }

    private static long NextOffset(ReadOnlySpan<byte> batches)
    {
        long next = 0;
        while (!batches.IsEmpty)
        {
            var header = Protocol.Records.RecordBatchHeader.Read(batches);
            next = header.LastOffset + 1;
            batches = batches[header.TotalSize..];
        }

        return next;
    }
}
