using LogBroker.Protocol.Records;
using LogBroker.TestKit;

namespace LogBroker.Storage.Tests;

/// <summary>
/// Many partitions: loaded on first use, open files bounded by <see cref="StorageOptions.MaxOpenSegments"/>
/// whatever the partition count, a reached bound is an error to that one call, and a partition not
/// yet recovered after a crash stays pending across a clean close.
/// </summary>
public sealed class LazyPartitionTests() : LogDirectoryTest("lazy")
{
    private const int Bound = 16;

    private StorageOptions Options() => new()
    {
        DataDirectory = Dir.Path,
        Log = LogConfig.Default with { SegmentBytes = 4096, SegmentIndexBytes = 4096, IndexIntervalBytes = 256, RetentionTime = null },
        MaxOpenSegments = Bound,
    };

    private static TopicPartition[] Partitions(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new TopicPartition($"t{i / 50}", i % 50))];

    [Fact]
    public void Created_partitions_are_directories_only_and_open_nothing()
    {
        using LogManager manager = LogManager.Open(Options(), Time);
        IReadOnlyList<PartitionLog> logs = manager.CreateMany(Partitions(120));

        Assert.Equal(120, logs.Count);
        Assert.All(logs, log => Assert.False(log.IsLoaded));
        Assert.Equal(0, manager.OpenSegments);
        Assert.All(Partitions(120), p => Assert.Empty(Directory.EnumerateFileSystemEntries(Dir.Combine(p.ToString()))));
        Assert.Same(logs[7], manager.CreateMany(Partitions(10))[7]);
    }

    [Fact]
    public void Open_segments_stay_within_the_bound_whatever_the_partition_count()
    {
        TopicPartition[] partitions = Partitions(300);
        var stored = new Dictionary<TopicPartition, byte[]>();
        using (LogManager manager = LogManager.Open(Options(), Time))
        {
            IReadOnlyList<PartitionLog> logs = manager.CreateMany(partitions);
            for (int i = 0; i < partitions.Length; i++)
            {
                byte[] batch = Batches.Create(2, tag: partitions[i].ToString());
                Assert.Equal(0, logs[i].Append(batch).BaseOffset);
                stored[partitions[i]] = batch;
                Assert.InRange(manager.OpenSegments, 0, Bound);
            }

            foreach (TopicPartition partition in partitions)
            {
                AssertHolds(manager, partition, stored[partition]);
                Assert.InRange(manager.OpenSegments, 0, Bound);
            }
        }

        using LogManager reopened = LogManager.Open(Options(), Time);
        Assert.Equal(0, reopened.OpenSegments);
        Assert.All(partitions, p => Assert.False(reopened.Get(p)!.IsLoaded));
        foreach (TopicPartition partition in partitions.Reverse())
        {
            AssertHolds(reopened, partition, stored[partition]);
            Assert.InRange(reopened.OpenSegments, 0, Bound);
        }
    }

    private static void AssertHolds(LogManager manager, TopicPartition partition, byte[] batch)
    {
        PartitionLog log = manager.Get(partition)!;
        Assert.Equal(2, log.LogEndOffset);
        using LogReadResult read = log.Read(0, 1 << 20);
        Assert.Equal(ReadStatus.Success, read.Status);
        Assert.Equal(batch.AsSpan(RecordBatch.MagicOffset).ToArray(), read.Records.Span[RecordBatch.MagicOffset..].ToArray());
    }

    [Fact]
    public void A_reached_bound_fails_only_the_call_that_needs_one_more_and_passes()
    {
        using LogManager manager = LogManager.Open(Options(), Time);
        IReadOnlyList<PartitionLog> logs = manager.CreateMany(Partitions(Bound + 2));
        foreach (PartitionLog log in logs)
        {
            log.Append(Batches.Create(1));
        }

        var held = new List<LogReadResult>();
        for (int i = 0; i < Bound; i++)
        {
            held.Add(logs[i].Read(0, 1 << 20));
            Assert.Equal(ReadStatus.Success, held[^1].Status);
        }

        Assert.Equal(Bound, manager.OpenSegments);
        using (LogReadResult refused = logs[Bound].Read(0, 1 << 20))
        {
            Assert.Equal(ReadStatus.SegmentLimit, refused.Status);
            Assert.True(refused.Records.IsEmpty);
        }

        Assert.Throws<StorageLimitException>(() => logs[Bound + 1].Append(Batches.Create(1)));
        Assert.Equal(Bound, manager.OpenSegments);

        foreach (LogReadResult read in held)
        {
            read.Dispose();
        }

        // Not failed: the same calls work as soon as a lease is given back.
        Assert.Equal(1, logs[Bound + 1].Append(Batches.Create(1)).BaseOffset);
        using LogReadResult now = logs[Bound].Read(0, 1 << 20);
        Assert.Equal(ReadStatus.Success, now.Status);
        Assert.False(now.Records.IsEmpty);
    }

    [Fact]
    public void A_partition_not_recovered_after_a_crash_is_still_recovered_after_a_later_clean_close()
    {
        var target = new TopicPartition("pending", 0);
        var other = new TopicPartition("touched", 0);
        long goodEnd;
        using (LogManager manager = LogManager.Open(Options(), Time))
        {
            PartitionLog log = manager.GetOrCreate(target);
            for (int i = 0; i < 12; i++)
            {
                log.Append(Batches.Create(3, valueBytes: 30, tag: "b" + i));
            }

            manager.GetOrCreate(other).Append(Batches.Create(1));
            goodEnd = 3 * 4; // the fifth batch gets torn below
            manager.Abandon(); // crash
        }

        // What a power loss can leave: a batch in the middle of the active segment torn (its CRC no
        // longer matches), before the last index entry, where only a recovery scan looks.
        string file = Directory.EnumerateFiles(Dir.Combine(target.ToString()), "*.log").Order(StringComparer.Ordinal).Last();
        byte[] bytes = File.ReadAllBytes(file);
        int position = 0;
        for (int i = 0; i < 4; i++)
        {
            position += System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(position + RecordBatch.LengthOffset)) + RecordBatch.LogOverhead;
        }

        bytes[position + RecordBatch.HeaderSize + 3] ^= 0xFF;
        File.WriteAllBytes(file, bytes);

        using (LogManager manager = LogManager.Open(Options(), Time))
        {
            Assert.False(manager.WasCleanShutdown);
            Assert.Equal(1, manager.Get(other)!.LogEndOffset); // only the other partition is used
        }

        Assert.Contains("pending 0", File.ReadAllText(Dir.Combine("recovery-pending")), StringComparison.Ordinal);
        using LogManager clean = LogManager.Open(Options(), Time);
        Assert.True(clean.WasCleanShutdown);
        Assert.Equal(goodEnd, clean.Get(target)!.LogEndOffset);
    }
    /// <summary>
    /// A bound above what the process's descriptor limit allows (1 per open segment) is lowered at
    /// open to fit well below the limit (issue 10: 12,000 with ulimit -n 20,000 made the broker
    /// run out of descriptors; the runtime then stops with "Out of memory.").
    /// </summary>
    [Fact]
    public void A_bound_above_the_descriptor_limit_is_lowered_to_fit_below_it()
    {
        long? limit = Internal.Posix.OpenFileLimit();
        Assert.SkipWhen(limit is null or > 3_000_000, "No finite RLIMIT_NOFILE to compare with.");
        using LogManager manager = LogManager.Open(new StorageOptions { DataDirectory = Dir.Combine("clamped"), MaxOpenSegments = 1_000_000 }, Time);
        Assert.InRange(manager.MaxOpenSegments, Internal.SegmentCache.MinOpen, limit.Value - 256);
        Assert.True(manager.MaxOpenSegments + (long)manager.IndexDescriptorBudget <= limit.Value * 3 / 4, $"bound {manager.MaxOpenSegments} for ulimit -n {limit}");
    }

    [Theory]
    [InlineData(12_288, 20_000L, 65_530L, 12_288)] // the defaults fit
    [InlineData(20_000, 20_000L, 65_530L, 15_000)] // 20,000 - 5,000 kept, one descriptor each
    [InlineData(100_000, 1_048_576L, 65_530L, 16_382)] // the map count limits: (65,530 - 16,382) / 3
    [InlineData(2048, 1024L, null, 768)] // 1,024 - 256
    [InlineData(2048, 100L, null, 16)] // never below the minimum
    [InlineData(2048, null, null, 2048)] // unknown limits: as configured
    public void The_bound_is_sized_from_the_process_limits(int configured, long? files, long? maps, int expected) =>
        Assert.Equal(expected, Internal.SegmentCache.SizeFor(configured, files, maps));
}
