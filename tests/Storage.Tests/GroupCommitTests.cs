using LogBroker.Storage.Internal;
using LogBroker.TestKit;

namespace LogBroker.Storage.Tests;

/// <summary>
/// <see cref="PartitionLog.FlushAsync"/> (acks=all group commit): no waiter completes before its offsets
/// are durable, the waiters that arrive during one fsync round share the next one, and a failing fsync
/// fails every waiter of its round. Real files, faults through <see cref="StorageFaults"/>.
/// </summary>
public sealed class GroupCommitTests() : LogDirectoryTest("groupcommit")
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);

    private LogManager Open() => LogManager.Open(new StorageOptions
    {
        DataDirectory = Dir.Path,
        Log = LogConfig.Default with { RetentionTime = null },
    }, Time);

    [Fact]
    public async Task No_waiter_completes_before_its_offsets_are_durable()
    {
        using LogManager manager = Open();
        PartitionLog log = manager.GetOrCreate(new TopicPartition("gc", 0));
        const int Producers = 4;
        const int Requests = 300;
        var tasks = new Task[Producers];
        for (int p = 0; p < Producers; p++)
        {
            tasks[p] = Task.Run(async () =>
            {
                for (int i = 0; i < Requests; i++)
                {
                    AppendResult appended = log.Append(Batches.Create(2, valueBytes: 32));
                    long end = appended.LastOffset + 1;
                    await log.FlushAsync(end).WaitAsync(HangGuard, TestContext.Current.CancellationToken);
                    Assert.True(log.RecoveryPoint >= end, $"answered at recovery point {log.RecoveryPoint} before {end} was durable");
                }
            }, TestContext.Current.CancellationToken);
        }

        await Task.WhenAll(tasks);
        Assert.Equal(log.LogEndOffset, log.RecoveryPoint);
    }

    [Fact]
    public async Task Waiters_that_arrive_during_an_fsync_share_one_more_round()
    {
        using LogManager manager = Open();
        PartitionLog log = manager.GetOrCreate(new TopicPartition("gc", 0));
        using var entered = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        int blockFirst = 1;
        int fsyncs = 0;
        manager.Faults.Inject = (op, _) =>
        {
            if (op == StorageOperation.Flush)
            {
                Interlocked.Increment(ref fsyncs);
                if (Interlocked.Exchange(ref blockFirst, 0) == 1)
                {
                    entered.Set();
                    gate.Wait(HangGuard);
                }
            }

            return null;
        };

        Task first = log.FlushAsync(log.Append(Batches.Create(1)).LastOffset + 1);
        Assert.True(entered.Wait(HangGuard, TestContext.Current.CancellationToken));                   // round 1 is inside its fsync
        var waiting = new Task[10];
        for (int i = 0; i < waiting.Length; i++)
        {
            waiting[i] = log.FlushAsync(log.Append(Batches.Create(1)).LastOffset + 1);
        }

        Assert.All(waiting, t => Assert.False(t.IsCompleted)); // none answered before its data is durable
        gate.Set();
        await first.WaitAsync(HangGuard, TestContext.Current.CancellationToken);
        await Task.WhenAll(waiting).WaitAsync(HangGuard, TestContext.Current.CancellationToken);
        int twoRounds = Volatile.Read(ref fsyncs);

        // One more lone round, to learn how many fsync calls one round makes.
        await log.FlushAsync(log.Append(Batches.Create(1)).LastOffset + 1).WaitAsync(HangGuard, TestContext.Current.CancellationToken);
        int oneRound = Volatile.Read(ref fsyncs) - twoRounds;
        Assert.True(oneRound > 0);
        Assert.Equal(2 * oneRound, twoRounds); // the ten waiters were served by a single round
        Assert.Equal(log.LogEndOffset, log.RecoveryPoint);
    }

    [Fact]
    public async Task A_failing_fsync_fails_every_waiter_of_its_round()
    {
        using LogManager manager = Open();
        PartitionLog log = manager.GetOrCreate(new TopicPartition("gc", 0));
        using var entered = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        int blockFirst = 1;
        manager.Faults.Inject = (op, _) =>
        {
            if (op != StorageOperation.Flush)
            {
                return null;
            }

            if (Interlocked.Exchange(ref blockFirst, 0) == 1)
            {
                entered.Set();
                gate.Wait(HangGuard); // round 1 fails once the waiters below have queued behind it
            }

            return new IOException("injected EIO", 5);
        };

        long durable = log.Append(Batches.Create(1)).LastOffset + 1;
        Task first = log.FlushAsync(durable);
        Assert.True(entered.Wait(HangGuard, TestContext.Current.CancellationToken));
        var waiting = new Task[8];
        for (int i = 0; i < waiting.Length; i++)
        {
            waiting[i] = log.FlushAsync(log.Append(Batches.Create(1)).LastOffset + 1);
        }

        gate.Set();
        await Assert.ThrowsAsync<IOException>(() => first.WaitAsync(HangGuard, TestContext.Current.CancellationToken));
        foreach (Task t in waiting)
        {
            await Assert.ThrowsAsync<IOException>(() => t.WaitAsync(HangGuard, TestContext.Current.CancellationToken)); // the next round fails them all
        }

        Assert.True(log.RecoveryPoint < log.LogEndOffset); // nothing past the failure was called durable
    }
}
