using LogBroker.TestKit;

namespace LogBroker.Storage.Tests;

public sealed class LogManagerTests() : LogDirectoryTest("manager")
{
    private StorageOptions Options(LogConfig? log = null) => new()
    {
        DataDirectory = Dir.Path,
        Log = log ?? LogConfig.Default with { SegmentBytes = 4096, SegmentIndexBytes = 4096, IndexIntervalBytes = 256 },
        RetentionCheckInterval = TimeSpan.FromMinutes(5),
        CheckpointInterval = TimeSpan.FromMinutes(1),
    };

    [Fact]
    public void Partitions_live_in_topic_partition_directories_and_come_back_after_a_restart()
    {
        using (LogManager manager = LogManager.Open(Options(), Time))
        {
            Assert.False(manager.WasCleanShutdown);
            manager.GetOrCreate(new("orders", 0)).Append(Batches.Create(3));
            manager.GetOrCreate(new("orders", 1)).Append(Batches.Create(5));
            manager.GetOrCreate(new("my.topic-with-dash", 12)).Append(Batches.Create(1));
            Assert.Same(manager.Get(new("orders", 0)), manager.GetOrCreate(new("orders", 0)));
        }

        Assert.True(Directory.Exists(Dir.Combine("orders-0")));
        Assert.True(File.Exists(Dir.Combine("orders-0", "00000000000000000000.log")));
        Assert.True(File.Exists(Dir.Combine(".clean-shutdown")));

        using LogManager reopened = LogManager.Open(Options(), Time);
        Assert.True(reopened.WasCleanShutdown);
        Assert.False(File.Exists(Dir.Combine(".clean-shutdown")), "the marker is consumed at open");
        Assert.Equal(3, reopened.Partitions.Count);
        Assert.Equal(3, reopened.Get(new("orders", 0))!.LogEndOffset);
        Assert.Equal(5, reopened.Get(new("orders", 1))!.LogEndOffset);
        Assert.Equal(1, reopened.Get(new("my.topic-with-dash", 12))!.LogEndOffset);
        Assert.Null(reopened.Get(new("orders", 2)));
    }

    [Theory]
    [InlineData("", 0)]
    [InlineData(".", 0)]
    [InlineData("..", 0)]
    [InlineData("has space", 0)]
    [InlineData("slash/../escape", 0)]
    [InlineData("ok", -1)]
    public void Invalid_topic_partitions_are_refused(string topic, int partition)
    {
        using LogManager manager = LogManager.Open(Options(), Time);

        Assert.Throws<ArgumentException>(() => manager.GetOrCreate(new(topic, partition)));
        Assert.Empty(Directory.EnumerateDirectories(Dir.Path));
    }

    [Fact]
    public void A_topic_name_of_249_characters_is_accepted_and_250_refused()
    {
        using LogManager manager = LogManager.Open(Options(), Time);

        manager.GetOrCreate(new(new string('t', 249), 0));
        Assert.Throws<ArgumentException>(() => manager.GetOrCreate(new(new string('t', 250), 0)));
    }

    [Fact]
    public void Delete_removes_the_partition_while_a_reader_keeps_its_slice()
    {
        using LogManager manager = LogManager.Open(Options(), Time);
        PartitionLog log = manager.GetOrCreate(new("gone", 0));
        log.Append(Batches.Create(4));
        using LogReadResult held = log.Read(0, 1000);
        byte[] copy = held.Records.ToArray();

        Assert.True(manager.Delete(new TopicPartition("gone", 0)));

        Assert.False(manager.Delete(new TopicPartition("gone", 0)));
        Assert.Null(manager.Get(new("gone", 0)));
        Assert.Empty(Directory.EnumerateDirectories(Dir.Path));
        Assert.Equal(copy, held.Records.ToArray());
        Assert.Throws<ObjectDisposedException>(() => log.Append(Batches.Create(1)));
    }

    [Fact]
    public void Maintenance_applies_retention_once_its_interval_has_passed()
    {
        using LogManager manager = LogManager.Open(Options(LogConfig.Default with
        {
            SegmentBytes = 4096,
            SegmentIndexBytes = 4096,
            RetentionTime = TimeSpan.FromHours(1),
        }), Time);
        PartitionLog log = manager.GetOrCreate(new("old", 0));
        long now = Time.GetUtcNow().ToUnixTimeMilliseconds();
        for (int i = 0; i < 20; i++)
        {
            log.Append(Batches.Create(10, valueBytes: 40, timestamp: now));
        }

        Time.Advance(TimeSpan.FromHours(2));
        log.Append(Batches.Create(1, timestamp: Time.GetUtcNow().ToUnixTimeMilliseconds()));
        int segments = log.SegmentCount;

        Time.Advance(TimeSpan.FromMinutes(4)); // hours passed since open, so retention is due
        manager.RunMaintenance();

        Assert.True(log.SegmentCount < segments);
        // Old records sharing the active segment with the fresh one stay; everything before goes.
        Assert.InRange(log.LogStartOffset, 1, 200);
        Assert.Equal(log.SegmentBaseOffsets[0], log.LogStartOffset);
        using LogReadResult fresh = log.Read(200, 1);
        Assert.Equal(ReadStatus.Success, fresh.Status);
    }

    [Fact]
    public async Task The_background_loop_flushes_by_interval_and_stops_when_cancelled()
    {
        StorageOptions options = Options(LogConfig.Default with { FlushInterval = TimeSpan.FromSeconds(5) });
        options.FlushCheckInterval = TimeSpan.FromSeconds(1);
        using LogManager manager = LogManager.Open(options, Time);
        PartitionLog log = manager.GetOrCreate(new("flushed", 0));
        log.Append(Batches.Create(2));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Task loop = manager.RunMaintenanceAsync(cts.Token);

        Assert.Equal(0, log.RecoveryPoint);
        for (int i = 0; i < 6; i++)
        {
            Time.Advance(TimeSpan.FromSeconds(1)); // one timer period each
        }

        await WaitUntilAsync(() => log.RecoveryPoint == 2, cts.Token);

        Assert.Equal(2, log.RecoveryPoint);
        await cts.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        // The timer callback runs on the thread pool after Advance: give it a bounded chance to run.
        for (int i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(10, cancellationToken);
        }
    }
}
