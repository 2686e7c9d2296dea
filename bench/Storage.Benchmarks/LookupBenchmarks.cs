using BenchmarkDotNet.Attributes;

namespace LogBroker.Storage.Benchmarks;

/// <summary>
/// Locating an offset and a timestamp in a 10 GiB partition (1 MiB batches, 1 GiB segments): the
/// read of one batch by offset (segment search, offset index, forward scan, lease) and the time-index
/// lookup. Random targets from a fixed sequence; warm page cache. Target: any offset in ≤ 2 µs.
/// </summary>
[MemoryDiagnoser]
public class LookupBenchmarks
{
    private const int Targets = 4096;
    private PartitionLog? _log;
    private long[] _offsets = [];
    private long[] _timestamps = [];
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _log = PartitionLog.Open(Data.LargePartition(10), Data.Config, cleanShutdown: true);
        var random = new Random(5);
        _offsets = new long[Targets];
        _timestamps = new long[Targets];
        for (int i = 0; i < Targets; i++)
        {
            _offsets[i] = random.NextInt64(_log.LogEndOffset);
            _timestamps[i] = 1_700_000_000_000 + random.NextInt64(_log.LogEndOffset / 9000 * 10_000);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _log?.Dispose();

    [Benchmark]
    public int ReadOneBatchByOffset()
    {
        using LogReadResult read = _log!.Read(_offsets[_next++ & (Targets - 1)], 1);
        return read.Records.Length;
    }

    [Benchmark]
    public long OffsetForTimestamp() => _log!.OffsetForTimestamp(_timestamps[_next++ & (Targets - 1)])?.Offset ?? -1;
}
