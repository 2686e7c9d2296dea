using LogBroker.Broker.Groups;
using LogBroker.Protocol;
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

    [Fact]
    public void A_snapshot_of_more_than_16_MiB_of_live_entries_compacts_and_reloads()
    {
        // DL2: 4,600 entries with 4 KiB metadata are ~19 MB live, more than one 16 MiB batch can hold.
        var options = new StorageOptions { DataDirectory = _dir.Path };
        string metadata = new('m', 4096);
        const int Partitions = 4600;
        using (LogManager logs = LogManager.Open(options))
        {
            var log = new OffsetLog(logs, compactAfterBytes: 24L * 1024 * 1024, segmentBytes: 4 * 1024 * 1024);
            _ = log.Load().ToList();
            List<(string, int, CommittedOffset?)> Chunk(int first, int count, long offset) =>
                [.. Enumerable.Range(first, count).Select(p => ("t", p, (CommittedOffset?)new CommittedOffset(offset, 0, metadata, 1)))];
            for (int first = 0; first < Partitions; first += 1000)
            {
                log.Append("big", Chunk(first, Math.Min(1000, Partitions - first), first));
            }

            Assert.Equal(0, log.Compactions); // the whole live set is written before the first compaction
            for (int round = 1; log.Compactions == 0 && round <= 10; round++)
            {
                log.Append("big", Chunk(0, 1000, round)); // the same keys again: the log grows, the live set does not
                log.Append("small", [("t", round % 7, new CommittedOffset(round, 0, null, 2))]);
            }

            Assert.Equal(1, log.Compactions);
            Assert.InRange(log.Size, Partitions * 4096L, (Partitions * 4200L) + (12L * 1024 * 1024));
            log.Append("small", [("t", 99, new CommittedOffset(99, 0, null, 3))]); // commits go on after it
        }

        using LogManager reopened = LogManager.Open(options);
        var entries = new OffsetLog(reopened).Load().ToList();
        Assert.Equal(Partitions, entries.Count(e => e.Group == "big"));
        Assert.All(entries.Where(e => e.Group == "big"), e => Assert.Equal(metadata, e.Offset.Metadata));
        Assert.Equal(99, entries.Single(e => e.Group == "small" && e.Partition == 99).Offset.Offset);
    }

    [Fact]
    public void Compaction_makes_the_snapshot_durable_before_deleting_what_it_replaces()
    {
        // DL1: at the moment the old segments go, everything up to the end of the snapshot is fsynced.
        var options = new StorageOptions { DataDirectory = _dir.Path };
        using LogManager logs = LogManager.Open(options);
        var log = new OffsetLog(logs, compactAfterBytes: 64 * 1024, segmentBytes: 16 * 1024);
        _ = log.Load().ToList();
        var seen = new List<(long RecoveryPoint, long End)>();
        log.BeforeReplacedDeleted = () => seen.Add((log.RecoveryPoint, log.LogEndOffset));
        for (int round = 0; round < 2000; round++)
        {
            log.Append("g" + (round % 3), [("t", round % 10, new CommittedOffset(round, 0, "meta-" + round, round))]);
        }

        Assert.NotEmpty(seen);
        Assert.All(seen, s => Assert.Equal(s.End, s.RecoveryPoint));
    }

    [Fact]
    public void A_commit_too_large_for_one_batch_or_with_an_unstorable_name_is_refused_whole()
    {
        var options = new StorageOptions { DataDirectory = _dir.Path };
        string metadata = new('m', 4096);
        using (LogManager logs = LogManager.Open(options))
        {
            var log = new OffsetLog(logs);
            _ = log.Load().ToList();
            log.Append("g", [("t", 0, new CommittedOffset(1, 0, null, 1))]);
            long before = log.LogEndOffset;

            OffsetStoreException tooBig = Assert.Throws<OffsetStoreException>(() => log.Append("g",
                [.. Enumerable.Range(0, 4200).Select(p => ("t", p, (CommittedOffset?)new CommittedOffset(2, 0, metadata, 1)))]));
            Assert.Equal(ErrorCode.InvalidCommitOffsetSize, tooBig.Error);

            // M12: a name over 32767 bytes cannot be read back with its 16-bit length, so it is refused.
            OffsetStoreException tooLong = Assert.Throws<OffsetStoreException>(() =>
                log.Append(new string('g', 40_000), [("t", 0, new CommittedOffset(3, 0, null, 1))]));
            Assert.Equal(ErrorCode.InvalidRequest, tooLong.Error);
            Assert.Equal(before, log.LogEndOffset);

            // The longest name that is accepted loads again.
            log.Append(new string('g', short.MaxValue), [("t", 0, new CommittedOffset(4, 0, null, 1))]);
            logs.Abandon();
        }

        using LogManager reopened = LogManager.Open(options);
        var entries = new OffsetLog(reopened).Load().ToList();
        Assert.Equal(2, entries.Count);
        Assert.Equal(1, entries.Single(e => e.Group == "g").Offset.Offset);
        Assert.Equal(4, entries.Single(e => e.Group.Length == short.MaxValue).Offset.Offset);
    }

    [Fact]
    public async Task Waiting_for_durability_fsyncs_once_for_many_concurrent_commits()
    {
        var options = new StorageOptions { DataDirectory = _dir.Path };
        using LogManager logs = LogManager.Open(options);
        var log = new OffsetLog(logs);
        _ = log.Load().ToList();
        long[] positions = [.. Enumerable.Range(0, 50).Select(i => log.Append("g", [("t", i, new CommittedOffset(i, 0, null, 1))]))];
        Assert.True(log.RecoveryPoint < positions[^1]);

        await Task.WhenAll(positions.Select(log.WhenDurableAsync)).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.True(log.RecoveryPoint >= positions[^1]);
        Assert.True(log.WhenDurableAsync(positions[^1]).IsCompletedSuccessfully); // already durable: no wait
    }
}
