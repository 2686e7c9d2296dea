using LogBroker.TestKit;

namespace LogBroker.Storage.Tests;

/// <summary>
/// <see cref="PartitionLog.WhenAppendedAfter"/>, which parks long-polling fetches: an append that races
/// the parking must still wake it, and no wake-up is lost under a bounded stress loop. The waits have a
/// generous guard only so that a lost wake-up fails the test instead of hanging it (not a timing bound).
/// </summary>
public sealed class AppendWakeUpTests : IDisposable
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new("wakeup");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_parked_waiter_is_woken_by_an_append_that_races_its_parking()
    {
        using PartitionLog log = PartitionLog.Open(_dir.Path, LogConfig.Default with { RetentionTime = null }, cleanShutdown: true);
        byte[] batch = Batches.Create(1, valueBytes: 8);
        const int Rounds = 2000;
        using var barrier = new Barrier(2);
        for (int round = 0; round < Rounds; round++)
        {
            long seen = log.LogEndOffset;
            Task<Task> parked = Task.Factory.StartNew(
                () =>
                {
                    barrier.SignalAndWait();
                    return log.WhenAppendedAfter(seen); // parks while, or just after, the append below runs
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
            barrier.SignalAndWait(TestContext.Current.CancellationToken);
            log.Append(batch);

            Task signal = await parked;
            await signal.WaitAsync(HangGuard, TestContext.Current.CancellationToken); // lost wake-up: TimeoutException
            Assert.True(log.LogEndOffset > seen);
        }
    }

    [Fact]
    public async Task No_wake_up_is_lost_while_one_writer_appends_and_several_waiters_park_again_and_again()
    {
        using PartitionLog log = PartitionLog.Open(_dir.Path, LogConfig.Default with { RetentionTime = null }, cleanShutdown: true);
        byte[] batch = Batches.Create(1, valueBytes: 8);
        const int Appends = 20_000;
        long wakeUps = 0;

        Task[] waiters = new Task[3];
        for (int w = 0; w < waiters.Length; w++)
        {
            waiters[w] = Task.Run(async () =>
            {
                long seen = log.LogEndOffset;
                while (seen < Appends)
                {
                    await log.WhenAppendedAfter(seen).WaitAsync(HangGuard, TestContext.Current.CancellationToken);
                    // A wake-up may be early (a waiter that read the end offset just before an append's signal
                    // swap shares that signal); FetchHandler then re-reads and parks again, as this loop does.
                    long now = log.LogEndOffset;
                    Assert.True(now >= seen);
                    seen = now;
                    Interlocked.Increment(ref wakeUps);
                }
            }, TestContext.Current.CancellationToken);
        }

        var writer = Task.Run(() =>
        {
            for (int i = 0; i < Appends; i++)
            {
                log.Append(batch);
                if ((i & 7) == 0)
                {
                    Thread.Yield(); // lets waiters park between appends as well as beside them
                }
            }
        }, TestContext.Current.CancellationToken);

        await writer;
        await Task.WhenAll(waiters);
        Assert.Equal(Appends, log.LogEndOffset);
        Assert.True(Interlocked.Read(ref wakeUps) >= waiters.Length);
    }
}
