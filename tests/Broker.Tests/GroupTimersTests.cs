using LogBroker.Broker.Groups;
using LogBroker.Broker.Metadata;
using LogBroker.Protocol;
using LogBroker.Storage;
using LogBroker.TestKit;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Broker.Tests;

/// <summary>The hosted loop that drives the coordinators' timers survives a tick that throws (DL2: it used to stop the host).</summary>
public sealed class GroupTimersTests : IDisposable
{
    private readonly TempDirectory _dir = new("timers");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_tick_that_throws_is_logged_and_the_timers_go_on()
    {
        var time = new FakeTimeProvider();
        using LogManager logs = LogManager.Open(new StorageOptions { DataDirectory = _dir.Path }, time);
        var registry = new TopicRegistry(logs, LogConfig.Default, NullLogger<TopicRegistry>.Instance);
        var store = new MemoryStore();
        var offsets = new OffsetManager(time, store, TimeSpan.FromDays(7));
        var groups = new GroupCoordinator(time, new GroupOptions(TimeSpan.Zero, TimeSpan.FromSeconds(6), TimeSpan.FromMinutes(30), TimeSpan.FromDays(7)), offsets);
        var consumerGroups = new ConsumerGroupCoordinator(time, registry, offsets, new ConsumerGroupOptions(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10)));
        Assert.Equal(ErrorCode.None, offsets.Commit("a", "", null, -1, [("t", 0, new CommittedOffset(1, -1, null, 0))]));

        using var timers = new GroupTimers(groups, consumerGroups, time, NullLogger<GroupTimers>.Instance);
        await timers.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            store.FailNext = new InvalidOperationException("not an I/O error: escapes the coordinator's own handling");
            time.Advance(TimeSpan.FromDays(8)); // the offsets expire: the first attempt throws out of Tick
            for (int i = 0; i < 200 && offsets.Find("a") is not null; i++)
            {
                await Task.Delay(5, TestContext.Current.CancellationToken);
                time.Advance(TimeSpan.FromMilliseconds(100));
            }

            Assert.Null(store.FailNext);      // the failing attempt happened
            Assert.Null(offsets.Find("a"));   // and a later tick expired the group
            Assert.False(timers.ExecuteTask!.IsCompleted, "the timer loop ended");
        }
        finally
        {
            await timers.StopAsync(CancellationToken.None);
        }
    }
}
