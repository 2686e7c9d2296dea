using LogBroker.TestKit;

namespace LogBroker.Storage.Tests;

/// <summary>
/// The leader-epoch cache of a partition: filled on append, answered with Kafka's
/// OffsetForLeaderEpoch semantics, truncated with the log, persisted in
/// <c>leader-epoch-checkpoint</c> and rebuilt from the log when that file is missing or hostile.
/// </summary>
public sealed class LeaderEpochCacheTests() : LogDirectoryTest("epochs")
{
    private static readonly LogConfig Small = StorageTestDefaults.SmallLog;


    private string CheckpointPath => Path.Combine(Dir.Path, "leader-epoch-checkpoint");

    private PartitionLog Open(bool clean = true) => PartitionLog.Open(Dir.Path, Small, clean, 0, 0, Time);

    /// <summary>Batches of two records in epochs 0, 0, 2, 2, 5: offsets 0–3 in 0, 4–7 in 2, 8–9 in 5.</summary>
    private static void AppendEpochs(PartitionLog log)
    {
        foreach (int epoch in new[] { 0, 0, 2, 2, 5 })
        {
            log.LeaderEpoch = epoch;
            Assert.Equal(AppendStatus.Success, log.Append(Batches.Create(2, tag: "e" + epoch)).Status);
        }
    }

    private static readonly EpochEntry[] Expected = [new(0, 0), new(2, 4), new(5, 8)];

    [Fact]
    public void Appends_record_each_new_epoch_and_queries_follow_Kafka()
    {
        using PartitionLog log = Open();
        Assert.Equal((-1, -1L), log.EndOffsetForEpoch(0)); // nothing known yet
        AppendEpochs(log);

        Assert.Equal(Expected, log.LeaderEpochs.Entries);
        Assert.Equal(5, log.LeaderEpochs.LatestEpoch);
        Assert.Equal((0, 4L), log.EndOffsetForEpoch(0));
        Assert.Equal((0, 4L), log.EndOffsetForEpoch(1)); // unknown: the largest epoch below it
        Assert.Equal((2, 8L), log.EndOffsetForEpoch(2));
        Assert.Equal((2, 8L), log.EndOffsetForEpoch(4));
        Assert.Equal((5, 10L), log.EndOffsetForEpoch(5)); // the latest ends at the log end offset
        Assert.Equal((-1, -1L), log.EndOffsetForEpoch(6)); // above every known epoch
        Assert.Equal((-1, -1L), log.EndOffsetForEpoch(-1));

        // The stored batches carry the epochs the cache lists.
        var seen = new List<(long, int)>();
        log.ScanBatches(0, (in header, _) => seen.Add((header.BaseOffset, header.PartitionLeaderEpoch)));
        Assert.Equal([(0L, 0), (2L, 0), (4L, 2), (6L, 2), (8L, 5)], seen);
    }

    [Fact]
    public void A_single_node_in_epoch_0_writes_no_file_and_derives_the_entry_at_load()
    {
        using (PartitionLog log = Open())
        {
            for (int i = 0; i < 3; i++)
            {
                log.Append(Batches.Create(2));
            }

            Assert.Equal([new EpochEntry(0, 0)], log.LeaderEpochs.Entries);
            log.DeleteRecordsBefore(3);
            Assert.Equal([new EpochEntry(0, 3)], log.LeaderEpochs.Entries);
        }

        Assert.False(File.Exists(CheckpointPath));
        using PartitionLog reopened = Open(clean: false);
        // Opened without the log start checkpoint (a LogManager keeps it): the log starts at 0 again.
        Assert.Equal([new EpochEntry(0, 0)], reopened.LeaderEpochs.Entries);
        Assert.Equal((0, 6L), reopened.EndOffsetForEpoch(0));
        Assert.Equal((-1, -1L), reopened.EndOffsetForEpoch(1));
    }

    [Fact]
    public void An_older_epoch_does_not_go_back()
    {
        using PartitionLog log = Open();
        AppendEpochs(log);
        log.LeaderEpoch = 3;
        log.Append(Batches.Create(2));
        Assert.Equal(Expected, log.LeaderEpochs.Entries);
        Assert.Equal((5, 12L), log.EndOffsetForEpoch(5));
    }

    [Fact]
    public void TruncateTo_drops_entries_at_or_after_the_offset_and_persists()
    {
        using (PartitionLog log = Open())
        {
            AppendEpochs(log);
            log.TruncateTo(6);
            Assert.Equal([new(0, 0), new EpochEntry(2, 4)], log.LeaderEpochs.Entries);
            Assert.Equal((2, 6L), log.EndOffsetForEpoch(2));
            Assert.Equal((-1, -1L), log.EndOffsetForEpoch(5));

            log.TruncateTo(4); // exactly where epoch 2 started: it goes too
            Assert.Equal([new EpochEntry(0, 0)], log.LeaderEpochs.Entries);

            log.LeaderEpoch = 3;
            log.Append(Batches.Create(2));
            Assert.Equal([new(0, 0), new EpochEntry(3, 4)], log.LeaderEpochs.Entries);
        }

        Assert.Equal("0\n2\n0 0\n3 4\n", File.ReadAllText(CheckpointPath));
        using PartitionLog reopened = Open();
        Assert.Equal([new(0, 0), new EpochEntry(3, 4)], reopened.LeaderEpochs.Entries);
    }

    [Fact]
    public void TruncateTo_below_the_first_segment_empties_the_cache()
    {
        using PartitionLog log = Open();
        AppendEpochs(log);
        log.TruncateTo(0);
        Assert.Empty(log.LeaderEpochs.Entries);
        Assert.Equal((-1, -1L), log.EndOffsetForEpoch(0));
    }

    [Fact]
    public void Log_start_moves_trim_the_front()
    {
        using PartitionLog log = Open();
        AppendEpochs(log);
        log.DeleteRecordsBefore(5);
        Assert.Equal([new(2, 5), new EpochEntry(5, 8)], log.LeaderEpochs.Entries);
        Assert.Equal((0, 5L), log.EndOffsetForEpoch(0)); // below every known epoch: ends where the first starts
        log.DeleteRecordsBefore(8);
        Assert.Equal([new EpochEntry(5, 8)], log.LeaderEpochs.Entries);
    }

    [Fact]
    public void Survives_a_clean_restart()
    {
        using (PartitionLog log = Open())
        {
            AppendEpochs(log);
        }

        Assert.Equal("0\n3\n0 0\n2 4\n5 8\n", File.ReadAllText(CheckpointPath));
        using PartitionLog reopened = Open();
        Assert.Equal(Expected, reopened.LeaderEpochs.Entries);
        Assert.Equal((5, 10L), reopened.EndOffsetForEpoch(5));
    }

    [Fact]
    public void Survives_an_unclean_restart_and_drops_entries_past_the_recovered_end()
    {
        PartitionLog log = Open();
        AppendEpochs(log);
        log.Abandon(); // crash

        // As if the crash came after the checkpoint listed epoch 7 but before its batch was written.
        File.WriteAllText(CheckpointPath, "0\n4\n0 0\n2 4\n5 8\n7 10\n");
        using PartitionLog reopened = Open(clean: false);
        Assert.Equal(10, reopened.LogEndOffset);
        Assert.Equal(Expected, reopened.LeaderEpochs.Entries);
        Assert.Equal((5, 10L), reopened.EndOffsetForEpoch(5));
        Assert.Equal("0\n3\n0 0\n2 4\n5 8\n", File.ReadAllText(CheckpointPath));
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("0\n999999999\n0 0\n")] // a count far past the bound
    [InlineData("0\n3\n0 0\n5 4\n2 8\n")] // epochs not increasing
    [InlineData("0\n3\n0 0\n2 8\n5 4\n")] // offsets going back
    [InlineData("0\n2\n0 0\n-2 4\n")]
    [InlineData("1\n1\n0 0\n")] // unknown version
    [InlineData("0\n1\n0 99999999999999999999999\n")]
    [InlineData("")]
    public void A_corrupt_or_hostile_file_is_ignored_and_rebuilt_from_the_log(string content)
    {
        using (PartitionLog log = Open())
        {
            AppendEpochs(log);
        }

        File.WriteAllText(CheckpointPath, content);
        using PartitionLog reopened = Open();
        Assert.Equal(Expected, reopened.LeaderEpochs.Entries);
        Assert.Equal("0\n3\n0 0\n2 4\n5 8\n", File.ReadAllText(CheckpointPath)); // rewritten valid
    }

    [Fact]
    public void A_huge_file_is_not_read_and_a_missing_one_is_rebuilt()
    {
        using (PartitionLog log = Open())
        {
            AppendEpochs(log);
        }

        using (FileStream huge = File.Create(CheckpointPath))
        {
            huge.SetLength(64L * 1024 * 1024);
        }

        using (PartitionLog reopened = Open())
        {
            Assert.Equal(Expected, reopened.LeaderEpochs.Entries);
        }

        File.Delete(CheckpointPath);
        using PartitionLog again = Open(clean: false);
        Assert.Equal(Expected, again.LeaderEpochs.Entries);
    }
}
