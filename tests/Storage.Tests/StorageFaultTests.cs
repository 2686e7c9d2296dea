using System.Buffers.Binary;
using LogBroker.Protocol.Records;
using LogBroker.TestKit;

namespace LogBroker.Storage.Tests;

/// <summary>
/// Faults of the storage engine on real file systems: a full disk (C5), impossible stored batch
/// lengths (M8), a truncation under a held slice (L1), an empty roll (M7).
/// </summary>
public sealed class StorageFaultTests() : LogDirectoryTest("faults")
{
    /// <summary>Every batch indexed, so nearly every append writes index entries.</summary>
    private static readonly LogConfig Dense = LogConfig.Default with
    {
        SegmentBytes = 256 * 1024,
        IndexIntervalBytes = 0,
        SegmentIndexBytes = 64 * 1024,
        RetentionTime = null,
    };

    private static void AssertReads(PartitionLog log, List<(long BaseOffset, byte[] Bytes)> stored)
    {
        foreach ((long baseOffset, byte[] bytes) in stored)
        {
            using LogReadResult read = log.Read(baseOffset, 1);
            Assert.True(read.Status == ReadStatus.Success && !read.Records.IsEmpty,
                $"{log.Directory} offset {baseOffset}: {read.Status}, {read.Records.Length} bytes, offsets {read.LogStartOffset}..{read.LogEndOffset}");
            byte[] back = read.Records.ToArray();
            Assert.Equal(baseOffset, BinaryPrimitives.ReadInt64BigEndian(back));
            Assert.Equal(bytes.AsSpan(RecordBatch.MagicOffset).ToArray(), back.AsSpan(RecordBatch.MagicOffset).ToArray());
        }
    }

    /// <summary>
    /// C5: the last free page is taken by a filler, then appends that fit in an already allocated
    /// log page need a new index page. A store into the mapped index used to raise SIGBUS there and
    /// kill the process (this test host); now every failure is an IOException, every acknowledged
    /// batch reads back intact, a restart on the full disk recovers them, and once space is freed
    /// the partition takes writes again without a restart.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_full_disk_fails_writes_with_an_IOException_and_damages_nothing(bool ext4)
    {
        using SmallFileSystem? disk = SmallFileSystem.TryMount("c5", ext4 ? 16 : 2, ext4, out string whyNot);
        Assert.SkipWhen(disk is null, whyNot);
        var options = new StorageOptions
        {
            DataDirectory = Path.Combine(disk.Path, "data"),
            Log = Dense,
            FailedPartitionRetryInterval = TimeSpan.FromSeconds(1),
        };
        var stored = new List<(long BaseOffset, byte[] Bytes)>();
        var partitions = new TopicPartition[8];
        string filler;
        int failures = 0;
        using (LogManager manager = LogManager.Open(options, Time))
        {
            for (int p = 0; p < partitions.Length; p++)
            {
                partitions[p] = new TopicPartition("full", p);
                byte[] first = Batches.Create(1, valueBytes: 8, tag: "first" + p);
                AppendResult result = manager.GetOrCreate(partitions[p]).Append(first);
                stored.Add((result.BaseOffset + (p * 1_000_000L), first));
            }

            filler = disk.Fill();
            for (int i = 0; i < 2000 && failures < 40; i++)
            {
                int p = i % partitions.Length;
                byte[] batch = Batches.Create(1, valueBytes: 8, tag: $"b{i}");
                try
                {
                    AppendResult result = manager.Get(partitions[p])!.Append(batch);
                    stored.Add((result.BaseOffset + (p * 1_000_000L), batch));
                }
                catch (IOException)
                {
                    failures++;
                }
            }

            Assert.True(failures > 0, "the disk never filled up");
            foreach (IGrouping<long, (long BaseOffset, byte[] Bytes)> group in stored.GroupBy(s => s.BaseOffset / 1_000_000L))
            {
                AssertReads(manager.Get(partitions[group.Key])!, [.. group.Select(s => (s.BaseOffset % 1_000_000L, s.Bytes))]);
            }
        }

        // A restart on the still full disk: everything acknowledged is there.
        using (LogManager manager = LogManager.Open(options, Time))
        {
            foreach (IGrouping<long, (long BaseOffset, byte[] Bytes)> group in stored.GroupBy(s => s.BaseOffset / 1_000_000L))
            {
                AssertReads(manager.Get(partitions[group.Key])!, [.. group.Select(s => (s.BaseOffset % 1_000_000L, s.Bytes))]);
            }

            string topUp = disk.Fill("filler2"); // whatever the restart gave back (the reserve, cut tails)
            Assert.ThrowsAny<IOException>(() => manager.Get(partitions[0])!.Append(Batches.Create(200, valueBytes: 100)));

            // Space comes back: after the retry interval the partition takes writes again, no restart.
            File.Delete(filler);
            File.Delete(topUp);
            Time.Advance(TimeSpan.FromSeconds(2));
            PartitionLog log = manager.Get(partitions[0])!;
            long end = log.LogEndOffset;
            AppendResult again = log.Append(Batches.Create(2, tag: "after"));
            Assert.Equal(AppendStatus.Success, again.Status);
            Assert.Equal(end, again.BaseOffset);
        }
    }

    /// <summary>
    /// M8: a stored length of -12 makes a hop of zero bytes. Below the last index entry of a trusted
    /// (cleanly closed) segment nothing re-validates it, so the walk to the wanted offset looped for
    /// ever. Now the read stops and reports a storage error.
    /// </summary>
    [Fact]
    public async Task An_impossible_stored_batch_length_ends_the_walk_instead_of_looping()
    {
        LogConfig config = LogConfig.Default with { SegmentBytes = 64 * 1024, IndexIntervalBytes = 1024, RetentionTime = null };
        long secondBatch;
        using (PartitionLog log = PartitionLog.Open(Dir.Path, config, cleanShutdown: true, time: Time))
        {
            log.Append(Batches.Create(3, valueBytes: 40));
            secondBatch = log.Append(Batches.Create(3, valueBytes: 40)).BaseOffset;
            for (int i = 0; i < 100; i++)
            {
                log.Append(Batches.Create(3, valueBytes: 40));
            }
        }

        string file = Directory.EnumerateFiles(Dir.Path, "*.log").Single();
        using (var stream = new FileStream(file, FileMode.Open))
        {
            byte[] minus12 = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(minus12, -12);
            stream.Position = RecordBatch.LengthOffset; // the first batch: before the first index entry
            stream.Write(minus12);
        }

        using PartitionLog reopened = PartitionLog.Open(Dir.Path, config, cleanShutdown: true, time: Time);
        Task<bool> read = Task.Run(() =>
        {
            using LogReadResult result = reopened.Read(secondBatch, 1 << 20);
            return result.Records.IsEmpty;
        }, TestContext.Current.CancellationToken);
        Assert.True(await read.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken), "served bytes past a corrupt length");
        var visited = new List<long>();
        Task scan = Task.Run(() => reopened.ScanBatches(0, (in RecordBatchHeader h, ReadOnlySpan<byte> _) => visited.Add(h.BaseOffset)),
            TestContext.Current.CancellationToken);
        await scan.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Empty(visited);
    }

    /// <summary>The read of a corrupt length reports it as a storage error (not as the end of the log).</summary>
    [Fact]
    public void A_read_past_a_corrupt_length_is_a_storage_error()
    {
        LogConfig config = LogConfig.Default with { SegmentBytes = 64 * 1024, IndexIntervalBytes = 1024, RetentionTime = null };
        long secondBatch;
        using (PartitionLog log = PartitionLog.Open(Dir.Path, config, cleanShutdown: true, time: Time))
        {
            log.Append(Batches.Create(3, valueBytes: 40));
            secondBatch = log.Append(Batches.Create(3, valueBytes: 40)).BaseOffset;
            log.Append(Batches.Create(3, valueBytes: 40));
        }

        string file = Directory.EnumerateFiles(Dir.Path, "*.log").Single();
        byte[] bytes = File.ReadAllBytes(file);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(RecordBatch.LengthOffset), int.MaxValue - 5);
        File.WriteAllBytes(file, bytes);

        // Trusted open without an index entry walks (and validates) the whole segment: it is cut at
        // the bad batch instead. Reopen unclean to prove the same; the read is then out of range.
        using PartitionLog reopened = PartitionLog.Open(Dir.Path, config, cleanShutdown: true, time: Time);
        using LogReadResult read = reopened.Read(secondBatch, 1 << 20);
        Assert.True(read.Status is ReadStatus.StorageError or ReadStatus.OffsetOutOfRange);
        Assert.True(read.Records.IsEmpty);
    }

    /// <summary>
    /// L1: a slice held across a truncation and a clean close. The close used to cut the file below
    /// the slice, and touching a page wholly past the new end raised SIGBUS (killing this host). Now
    /// the file is never shrunk under a published size while open: the reader sees zeros.
    /// </summary>
    [Fact]
    public void A_slice_held_across_a_truncation_and_a_close_stays_readable()
    {
        LogConfig config = LogConfig.Default with { SegmentBytes = 1024 * 1024, RetentionTime = null };
        PartitionLog log = PartitionLog.Open(Dir.Path, config, cleanShutdown: true, time: Time);
        long cut = 0;
        for (int i = 0; i < 200; i++)
        {
            long offset = log.Append(Batches.Create(2, valueBytes: 100)).BaseOffset;
            if (i == 2)
            {
                cut = offset;
            }
        }

        LogReadResult held = log.Read(log.LogEndOffset - 2, 1 << 20);
        Assert.True(held.Records.Length > 0);
        log.TruncateTo(cut);
        log.Dispose();

        byte[] seen = held.Records.ToArray(); // touches every page of the slice
        Assert.All(seen, b => Assert.Equal(0, b));
        held.Dispose();

        using PartitionLog reopened = PartitionLog.Open(Dir.Path, config, cleanShutdown: true, time: Time);
        Assert.Equal(cut, reopened.LogEndOffset);
    }

    /// <summary>
    /// M7: a first batch larger than segment.bytes into an empty active segment. The roll used to
    /// delete the empty segment before creating its replacement (a failed create left a released
    /// segment in the list); now the empty segment just takes the larger capacity, touching no file.
    /// </summary>
    [Fact]
    public void An_oversized_batch_into_an_empty_segment_grows_it_in_place()
    {
        LogConfig config = LogConfig.Default with { SegmentBytes = 1024, MaxMessageBytes = 64 * 1024, RetentionTime = null };
        using (PartitionLog log = PartitionLog.Open(Dir.Path, config, cleanShutdown: true, time: Time))
        {
            log.Append(Batches.Create(1));
            log.Roll();
            Assert.Equal(2, log.SegmentCount);
            Assert.Single(Directory.EnumerateFiles(Dir.Path, "*.log")); // the new, empty segment has no file yet
            AppendResult big = log.Append(Batches.Create(20, valueBytes: 500));
            Assert.Equal(AppendStatus.Success, big.Status);
            Assert.Equal(2, log.SegmentCount);
            Assert.True(log.Append(Batches.Create(1)).BaseOffset > big.LastOffset);
        }

        using PartitionLog reopened = PartitionLog.Open(Dir.Path, config, cleanShutdown: true, time: Time);
        Assert.Equal(22, reopened.LogEndOffset);
        using LogReadResult read = reopened.Read(1, 1);
        Assert.Equal(20, Batches.Split(read.Records.Span).Single().Records);
    }
}
