using LogBroker.Protocol.Records;
using LogBroker.TestKit;

namespace LogBroker.Storage.Tests;

/// <summary>One writer, many readers, background retention and flushes, as the broker uses a partition.</summary>
public sealed class ConcurrencyTests : IDisposable
{
    private static readonly LogConfig Small = LogConfig.Default with
    {
        SegmentBytes = 8192,
        IndexIntervalBytes = 512,
        SegmentIndexBytes = 4096,
        RetentionTime = null,
    };

    private readonly TempDirectory _dir = new("concurrency");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_held_slice_survives_roll_retention_delete_truncation_and_close()
    {
        PartitionLog log = PartitionLog.Open(_dir.Path, Small with { RetentionBytes = 10_000 }, cleanShutdown: true);
        for (int i = 0; i < 10; i++)
        {
            log.Append(Batches.Create(5, valueBytes: 50));
        }

        LogReadResult held = log.Read(0, int.MaxValue); // the first segment's batches
        byte[] copy = held.Records.ToArray();
        Assert.NotEmpty(copy);

        log.Roll();
        for (int i = 0; i < 60; i++)
        {
            log.Append(Batches.Create(5, valueBytes: 50));
        }

        Assert.True(log.ApplyRetention() > 0);           // deletes the held segment's files
        Assert.True(log.LogStartOffset > 0);
        Assert.False(File.Exists(Path.Combine(_dir.Path, "00000000000000000000.log")));
        log.TruncateTo(log.LogEndOffset - 20);
        log.Dispose();                                    // closes every segment

        Assert.Equal(copy, held.Records.ToArray());       // still mapped, still the same bytes
        Assert.Equal(BatchValidation.Valid, RecordBatch.Validate(held.Records.Span, out _, out _));
        held.Dispose();
    }

    [Fact]
    public async Task Readers_running_beside_the_writer_never_see_a_torn_or_misplaced_batch()
    {
        using PartitionLog log = PartitionLog.Open(_dir.Path, Small, cleanShutdown: true);
        const int Appends = 3000;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        long reads = 0;

        Task[] readers = Enumerable.Range(0, 3).Select(seed => Task.Run(() =>
        {
            var random = new Random(seed);
            while (!stop.IsCancellationRequested)
            {
                long end = log.LogEndOffset;
                if (end == 0)
                {
                    continue;
                }

                long offset = random.NextInt64(end);
                using LogReadResult read = log.Read(offset, random.Next(1, 4096));
                Assert.Equal(ReadStatus.Success, read.Status);
                var batches = Batches.Split(read.Records.Span); // throws on any invalid batch
                Assert.NotEmpty(batches);
                Assert.InRange(offset, batches[0].BaseOffset, batches[0].BaseOffset + batches[0].Records - 1);
                for (int i = 1; i < batches.Count; i++)
                {
                    Assert.Equal(batches[i - 1].BaseOffset + batches[i - 1].Records, batches[i].BaseOffset);
                }

                Interlocked.Increment(ref reads);
            }
        })).ToArray();

        for (int i = 0; i < Appends; i++)
        {
            Assert.Equal(AppendStatus.Success, log.Append(Batches.Create(1 + (i % 9), valueBytes: i % 50)).Status);
        }

        await stop.CancelAsync();
        await Task.WhenAll(readers);
        Assert.True(log.SegmentCount > 10);
        Assert.True(Interlocked.Read(ref reads) > 100, "the readers must actually have run");
    }

    [Fact]
    public async Task Concurrent_flushes_share_the_work_and_the_recovery_point_only_moves_forward()
    {
        using PartitionLog log = PartitionLog.Open(_dir.Path, Small, cleanShutdown: true);
        using var done = new CancellationTokenSource();
        bool wentBack = false;
        Task[] flushers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            while (!done.IsCancellationRequested)
            {
                long end = log.LogEndOffset;
                log.Flush(end);
                long recoveryPoint = log.RecoveryPoint;
                if (recoveryPoint < end)
                {
                    wentBack = true; // Flush(end) returned before offsets below end were durable
                }
            }
        })).ToArray();

        long before = 0;
        for (int i = 0; i < 500; i++)
        {
            log.Append(Batches.Create(2));
            long recoveryPoint = log.RecoveryPoint;
            Assert.True(recoveryPoint >= before, "the recovery point went backwards");
            before = recoveryPoint;
        }

        await done.CancelAsync();
        await Task.WhenAll(flushers);
        log.Flush();
        Assert.False(wentBack);
        Assert.Equal(log.LogEndOffset, log.RecoveryPoint);
    }
}
