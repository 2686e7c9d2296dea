using LogBroker.Broker.Groups;
using LogBroker.Storage;
using LogBroker.TestKit;

namespace LogBroker.Broker.Tests;

/// <summary>The committed-offset log: every commit survives a reopen, and compaction keeps it bounded.</summary>
public sealed class OffsetLogTests : IDisposable
{
    private readonly TempDirectory _dir = new("offsets");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Many_commits_stay_bounded_and_the_latest_of_each_come_back_after_a_crash()
    {
        var options = new StorageOptions { DataDirectory = _dir.Path };
        long peak = 0;
        using (LogManager logs = LogManager.Open(options))
        {
            var log = new OffsetLog(logs, compactAfterBytes: 64 * 1024, segmentBytes: 16 * 1024);
            _ = log.Load().ToList();
            for (int round = 0; round < 2000; round++)
            {
                log.Append("g" + (round % 3), [("t", round % 10, new CommittedOffset(round, 0, "meta-" + round, round))]);
                peak = Math.Max(peak, log.Size);
            }

            log.Append("g0", [("t", 0, null)]); // a deletion
            logs.Abandon();                     // crash: nothing flushed, no clean marker
        }

        // 2,000 commits of ~90 bytes would be ~180 KB; compaction keeps the log near the threshold.
        Assert.InRange(peak, 1, (64 * 1024) + (3 * 16 * 1024) + 4096);
        using LogManager reopened = LogManager.Open(options);
        var entries = new OffsetLog(reopened).Load().ToDictionary(e => (e.Group, e.Partition), e => e.Offset);
        Assert.Equal(29, entries.Count); // 3 groups × 10 partitions, less the deleted one
        Assert.False(entries.ContainsKey(("g0", 0)));
        Assert.Equal(1999, entries[("g1", 9)].Offset); // round 1999 is g1 (1999 % 3), partition 9
        Assert.Equal("meta-1999", entries[("g1", 9)].Metadata);
    }
}
