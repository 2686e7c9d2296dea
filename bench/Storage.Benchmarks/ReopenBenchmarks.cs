using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;

namespace LogBroker.Storage.Benchmarks;

/// <summary>
/// Opening the 10 GiB partition: after a clean shutdown (indexes trusted after a sanity check and a
/// walk of each segment's tail), after an unclean one with the recovery point at the last flush (only
/// the last 1 GiB segment is scanned with CRC-32C and its indexes rebuilt), and after an unclean one
/// with no recovery point at all (all 10 GiB scanned). The partition's last (active) segment is small,
/// so the recovery-point case is also measured with one full 1 GiB segment past the recovery point. Warm page cache; each open is closed cleanly.
/// Targets: clean &lt; 100 ms, unclean &lt; 2 s.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class ReopenBenchmarks
{
    private string _directory = "";
    private long _end;
    private long _lastFullSegment;

    [GlobalSetup]
    public void Setup()
    {
        _directory = Data.LargePartition(10);
        using PartitionLog log = PartitionLog.Open(_directory, Config, cleanShutdown: true);
        _end = log.LogEndOffset;
        _lastFullSegment = log.SegmentBaseOffsets[^2];
    }

    private static LogConfig Config => Data.Config;

    [Benchmark(Baseline = true)]
    public long Clean()
    {
        using PartitionLog log = PartitionLog.Open(_directory, Config, cleanShutdown: true);
        return log.LogEndOffset;
    }

    [Benchmark]
    public long UncleanFromRecoveryPoint()
    {
        using PartitionLog log = PartitionLog.Open(_directory, Config, cleanShutdown: false, recoveryPoint: _end);
        return log.LogEndOffset;
    }

    /// <summary>The worst case with a recovery point: a whole 1 GiB segment (and the small active one) past it.</summary>
    [Benchmark]
    public long UncleanOneFullSegmentPastRecoveryPoint()
    {
        using PartitionLog log = PartitionLog.Open(_directory, Config, cleanShutdown: false, recoveryPoint: _lastFullSegment);
        return log.LogEndOffset;
    }

    [Benchmark]
    public long UncleanFromZero()
    {
        using PartitionLog log = PartitionLog.Open(_directory, Config, cleanShutdown: false, recoveryPoint: 0);
        return log.LogEndOffset;
    }
}
