using LogBroker.Protocol.Records;
using LogBroker.TestKit;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Storage.Tests;

/// <summary>
/// The follower's append (offsets and epochs kept as the leader wrote them, CRC and position checked, the epoch
/// cache filled from the batches), truncation of a diverged tail, and the high watermark kept apart from the
/// log end offset, across restarts, as Kafka's replication-offset-checkpoint does.
/// </summary>
public sealed class FollowerAppendTests : IDisposable
{
    private static readonly LogConfig Small = StorageTestDefaults.SmallLog;

    private readonly TempDirectory _leaderDir = new("leader");
    private readonly TempDirectory _followerDir = new("follower");
    private readonly FakeTimeProvider _time = StorageTestDefaults.Clock();

    public void Dispose()
    {
        _leaderDir.Dispose();
        _followerDir.Dispose();
    }

    private PartitionLog Open(TempDirectory dir) => PartitionLog.Open(dir.Path, Small, true, 0, 0, _time);

    private static byte[] AllBytes(PartitionLog log, long from = 0)
    {
        var bytes = new List<byte>();
        long offset = from;
        for (int i = 0; i < 10_000 && offset < log.LogEndOffset; i++)
        {
            using LogReadResult read = log.Read(offset, 1 << 20);
            Assert.Equal(ReadStatus.Success, read.Status);
            bytes.AddRange(read.Records.ToArray());
            offset = Batches.Split(read.Records.Span)[^1] is var last ? last.BaseOffset + last.Records : offset;
        }

        return [.. bytes];
    }

    /// <summary>Copies every batch of <paramref name="leader"/> from <paramref name="from"/> to the follower, as a replica fetch would.</summary>
    private static void Replicate(PartitionLog leader, PartitionLog follower, long from)
    {
        foreach ((long _, int _, byte[] batch) in Batches.Split(AllBytes(leader, from)))
        {
            Assert.Equal(AppendStatus.Success, follower.AppendAsFollower(batch, out _).Status);
        }
    }

    [Fact]
    public void A_follower_stores_the_leaders_batches_byte_for_byte_with_their_offsets_and_epochs()
    {
        using PartitionLog leader = Open(_leaderDir);
        using PartitionLog follower = Open(_followerDir);
        foreach (int epoch in new[] { 0, 0, 3, 3, 3, 7 })
        {
            leader.LeaderEpoch = epoch;
            leader.Append(Batches.Create(40, tag: "e" + epoch)); // rolls segments: 4 KiB each
        }

        Replicate(leader, follower, 0);

        Assert.Equal(leader.LogEndOffset, follower.LogEndOffset);
        Assert.True(follower.SegmentCount > 1);
        Assert.Equal(AllBytes(leader), AllBytes(follower));
        Assert.Equal(leader.LeaderEpochs.Entries, follower.LeaderEpochs.Entries);
        Assert.Equal([new EpochEntry(0, 0), new EpochEntry(3, 80), new EpochEntry(7, 200)], follower.LeaderEpochs.Entries);
        Assert.Equal(0, follower.LeaderEpoch); // the follower's own stamp is untouched
    }

    [Fact]
    public void A_corrupt_gapped_or_epoch_regressing_batch_is_refused_and_a_batch_already_held_is_skipped()
    {
        using PartitionLog follower = Open(_followerDir);
        byte[] first = Batches.Create(3);
        RecordBatch.SetPartitionLeaderEpoch(first, 4);
        Assert.Equal(AppendStatus.Success, follower.AppendAsFollower(first, out _).Status);

        byte[] corrupt = Batches.Create(2);
        RecordBatch.SetBaseOffset(corrupt, 3);
        corrupt[^1] ^= 0x5A; // inside the CRC's range
        Assert.Equal(AppendStatus.InvalidBatch, follower.AppendAsFollower(corrupt, out _).Status);

        byte[] gap = Batches.Create(2);
        RecordBatch.SetBaseOffset(gap, 5);
        RecordBatch.SetPartitionLeaderEpoch(gap, 4);
        Assert.Equal(AppendStatus.OffsetMismatch, follower.AppendAsFollower(gap, out _).Status);

        byte[] older = Batches.Create(2);
        RecordBatch.SetBaseOffset(older, 3);
        RecordBatch.SetPartitionLeaderEpoch(older, 2);
        Assert.Equal(AppendStatus.OffsetMismatch, follower.AppendAsFollower(older, out _).Status);

        AppendResult again = follower.AppendAsFollower(first, out _);
        Assert.Equal((AppendStatus.Success, 0L, 2L), (again.Status, again.BaseOffset, again.LastOffset));
        Assert.Equal(3, follower.LogEndOffset);
        Assert.Equal([new EpochEntry(4, 0)], follower.LeaderEpochs.Entries);
    }

    [Fact]
    public void A_diverged_tail_is_truncated_then_the_new_leaders_batches_follow()
    {
        using PartitionLog leader = Open(_leaderDir);
        using PartitionLog follower = Open(_followerDir);
        leader.LeaderEpoch = 1;
        leader.Append(Batches.Create(5, tag: "a"));
        Replicate(leader, follower, 0);

        // The follower had written two batches of epoch 2 that the new leader (epoch 3) never saw.
        follower.LeaderEpoch = 2;
        follower.Append(Batches.Create(4, tag: "lost"));
        follower.Append(Batches.Create(4, tag: "lost"));
        leader.LeaderEpoch = 3;
        leader.Append(Batches.Create(2, tag: "b"));

        // OffsetForLeaderEpoch(2) at the leader: epoch 1 ends at 5.
        (int epoch, long end) = leader.EndOffsetForEpoch(follower.LeaderEpochs.LatestEpoch);
        Assert.Equal((1, 5L), (epoch, end));
        Assert.Equal(5, follower.TruncateTo(end));
        Assert.Equal([new EpochEntry(1, 0)], follower.LeaderEpochs.Entries);
        Replicate(leader, follower, 5);

        Assert.Equal(AllBytes(leader), AllBytes(follower));
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(3, 5)], follower.LeaderEpochs.Entries);
    }

    [Fact]
    public void The_high_watermark_follows_the_log_end_until_kept_apart_then_moves_only_forward_within_the_log()
    {
        using PartitionLog log = Open(_leaderDir);
        log.Append(Batches.Create(5));
        Assert.False(log.HasSeparateHighWatermark);
        Assert.Equal(5, log.HighWatermark); // single node: the log end offset
        Assert.False(log.AdvanceHighWatermark(3));

        log.UseSeparateHighWatermark();
        Assert.Equal(0, log.HighWatermark); // no checkpoint: from the start
        log.Append(Batches.Create(5));
        Assert.Equal(0, log.HighWatermark);
        Task waiting = log.WhenHighWatermarkAfter(0);
        Assert.False(waiting.IsCompleted);
        Assert.True(log.AdvanceHighWatermark(4));
        Assert.True(waiting.IsCompleted);
        Assert.False(log.AdvanceHighWatermark(2)); // never back
        Assert.True(log.AdvanceHighWatermark(99));
        Assert.Equal(10, log.HighWatermark); // capped by the log end offset

        log.TruncateTo(5);
        Assert.Equal(5, log.HighWatermark);
        log.DeleteRecordsBefore(5);
        Assert.Equal(5, log.HighWatermark);
    }

    [Fact]
    public void The_high_watermark_is_checkpointed_and_comes_back_capped_by_the_log_end_offset()
    {
        StorageOptions options = new()
        {
            DataDirectory = _leaderDir.Path,
            Log = Small,
            RetentionCheckInterval = TimeSpan.FromMinutes(5),
            CheckpointInterval = TimeSpan.FromMinutes(1),
        };
        var replicated = new TopicPartition("replicated", 0);
        var single = new TopicPartition("single", 0);
        using (LogManager manager = LogManager.Open(options, _time))
        {
            manager.GetOrCreate(single).Append(Batches.Create(4));
            PartitionLog log = manager.GetOrCreate(replicated);
            log.UseSeparateHighWatermark();
            log.Append(Batches.Create(5));
            log.Append(Batches.Create(5));
            log.AdvanceHighWatermark(7);
        }

        Assert.Contains("replicated 0 7", File.ReadAllText(Path.Combine(_leaderDir.Path, "replication-offset-checkpoint")), StringComparison.Ordinal);
        using (LogManager manager = LogManager.Open(options, _time))
        {
            PartitionLog log = manager.Get(replicated)!;
            Assert.Equal(10, log.HighWatermark); // follows the end until the replica manager takes it over
            log.UseSeparateHighWatermark();
            Assert.Equal(7, log.HighWatermark);
            Assert.Equal(4, manager.Get(single)!.HighWatermark);
            Assert.Equal(5, log.TruncateTo(5)); // a follower's truncation below the checkpoint
        }

        using (LogManager manager = LogManager.Open(options, _time))
        {
            PartitionLog log = manager.Get(replicated)!;
            log.UseSeparateHighWatermark();
            Assert.Equal(5, log.HighWatermark);
        }
    }

    [Fact]
    public void Without_replicated_partitions_no_high_watermark_file_is_written()
    {
        StorageOptions options = new() { DataDirectory = _leaderDir.Path, Log = Small };
        using (LogManager manager = LogManager.Open(options, _time))
        {
            manager.GetOrCreate(new TopicPartition("single", 0)).Append(Batches.Create(4));
        }

        Assert.False(File.Exists(Path.Combine(_leaderDir.Path, "replication-offset-checkpoint")));
    }
}
