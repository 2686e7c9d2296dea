using System.Diagnostics;
using System.Globalization;
using LogBroker.Broker.Metadata;
using LogBroker.Protocol;
using LogBroker.Storage;
using LogBroker.TestKit;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Broker.Tests;

/// <summary>
/// The topic registry over its metadata log, on a real data directory: conversion of the old JSON
/// file, O(change) appends, torn tails, snapshots, crash states of creation and deletion, limits,
/// and failures to persist on a full filesystem.
/// </summary>
public sealed class TopicRegistryTests : IDisposable
{
    private static readonly LogConfig SmallConfig = LogConfig.Default with { SegmentBytes = 1024 * 1024, SegmentIndexBytes = 4096 };
    private static readonly Dictionary<string, string?> NoConfigs = [];

    private readonly TempDirectory _dir = new("registry");
    private LogManager? _logs;
    private TopicRegistry? _registry;

    public void Dispose()
    {
        Close();
        _dir.Dispose();
    }

    [Fact]
    public void The_old_json_file_is_converted_on_first_start_and_gone_after()
    {
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Fixtures", "cluster-metadata.json"), _dir.Combine(MetadataLog.LegacyFileName));
        TopicRegistry registry = Open();

        AssertFixtureTopics(registry);
        Assert.False(File.Exists(_dir.Combine(MetadataLog.LegacyFileName)));
        Assert.True(File.Exists(_dir.Combine(MetadataLog.SnapshotFileName)));
        Assert.True(registry.AllocateProducerId() >= 3000, "ids below the reserved mark may have been handed out");

        registry = Reopen();
        AssertFixtureTopics(registry);
        Assert.True(registry.AllocateProducerId() >= 4000, "the block reserved in the last run is never reissued");
    }

    [Fact]
    public void A_change_appends_a_record_of_its_own_size_whatever_the_number_of_topics()
    {
        TopicRegistry registry = Open(limits: new TopicLimits(10, 100_000));
        string log = _dir.Combine(MetadataLog.LogFileName);
        var sizes = new List<long>();
        for (int i = 0; i < 300; i++)
        {
            long before = new FileInfo(log).Length;
            Assert.Equal(ErrorCode.None, registry.Create($"topic-{i:D5}", 1, NoConfigs, validateOnly: false, out _));
            sizes.Add(new FileInfo(log).Length - before);
        }

        Assert.All(sizes, size => Assert.Equal(sizes[0], size));
        Assert.Equal(0, registry.MetadataLog.SnapshotsWritten);
        Assert.False(File.Exists(_dir.Combine(MetadataLog.SnapshotFileName)));
    }

    [Fact]
    public void One_create_of_many_topics_is_one_append()
    {
        TopicRegistry registry = Open();
        int appends = registry.MetadataLog.Appends;
        var requests = new List<TopicRequest>();
        for (int i = 0; i < 50; i++)
        {
            requests.Add(new TopicRequest($"batch-{i}", 2, NoConfigs));
        }

        Assert.All(registry.Create(requests, validateOnly: false), r => Assert.Equal(ErrorCode.None, r.Error));
        Assert.Equal(appends + 1, registry.MetadataLog.Appends);
        Assert.Equal(50, Reopen().Topics.Count);
    }

    [Fact]
    public void A_torn_or_damaged_tail_is_cut_and_the_records_before_it_kept()
    {
        TopicRegistry registry = Open();
        Create(registry, "kept-a", 2);
        Create(registry, "kept-b", 1);
        Create(registry, "torn", 1);
        Close();

        string log = _dir.Combine(MetadataLog.LogFileName);
        long full = new FileInfo(log).Length;
        using (var file = new FileStream(log, FileMode.Open))
        {
            file.SetLength(full - 5); // the last record (topic "torn") cut short, as a crash mid-write leaves it
        }

        registry = Open();
        Assert.NotNull(registry.Get("kept-a"));
        Assert.NotNull(registry.Get("kept-b"));
        Assert.Null(registry.Get("torn"));
        Assert.False(Directory.Exists(_dir.Combine("torn-0")), "the torn topic's directory is a stray");
        Create(registry, "after", 1);
        registry = Reopen();
        Assert.NotNull(registry.Get("after")); // appended after the cut, not after the garbage
        Close();

        using (var file = new FileStream(log, FileMode.Open))
        {
            file.Seek(-3, SeekOrigin.End);
            file.WriteByte(0x5A); // a bit flip in the last record: its CRC fails
        }

        registry = Open();
        Assert.NotNull(registry.Get("kept-b"));
        Assert.Null(registry.Get("after"));
    }

    [Fact]
    public void Snapshots_replace_the_log_and_recovery_gives_the_same_state()
    {
        TopicRegistry registry = Open(snapshotBytes: 2048);
        Create(registry, "s-1", 2);
        Create(registry, "s-2", 3);
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(ErrorCode.None, registry.SetConfigs("s-1", new Dictionary<string, string> { ["retention.ms"] = (60_000 + i).ToString(CultureInfo.InvariantCulture) }, false, out _));
        }

        Assert.Equal(ErrorCode.None, registry.AddPartitions("s-2", 5, false, out _));
        Assert.Equal(ErrorCode.None, registry.Delete("s-1"));
        Create(registry, "s-1", 1);
        long pid = registry.AllocateProducerId();
        Assert.True(registry.MetadataLog.SnapshotsWritten > 0);
        Guid id = registry.Get("s-1")!.Id;

        registry = Reopen(snapshotBytes: 2048);
        Assert.Equal(id, registry.Get("s-1")!.Id);
        Assert.Single(registry.Get("s-1")!.Partitions);
        Assert.Empty(registry.Get("s-1")!.Overrides);
        Assert.Equal(5, registry.Get("s-2")!.Partitions.Length);
        Assert.True(registry.AllocateProducerId() >= pid + TopicRegistry.ProducerIdBlock);
    }

    [Fact]
    public void A_log_left_from_before_a_snapshot_is_harmless_when_replayed_again()
    {
        TopicRegistry registry = Open(snapshotBytes: 1536);
        Create(registry, "r-1", 1);
        Assert.Equal(ErrorCode.None, registry.SetConfigs("r-1", new Dictionary<string, string> { ["retention.ms"] = "1000" }, false, out _));
        string log = _dir.Combine(MetadataLog.LogFileName);
        byte[] before = File.ReadAllBytes(log);
        int snapshots = registry.MetadataLog.SnapshotsWritten;
        for (int i = 0; registry.MetadataLog.SnapshotsWritten == snapshots; i++)
        {
            Assert.True(i < 1000, "no snapshot was written");
            Assert.Equal(ErrorCode.None, registry.SetConfigs("r-1", new Dictionary<string, string> { ["retention.ms"] = "2000" }, false, out _));
        }

        Assert.Equal(ErrorCode.None, registry.Delete("r-1"));
        Create(registry, "r-2", 1);
        Close();

        // Only the rename of the snapshot reached the disk, as after a crash (or a failure) between it and the new log: an older log.
        File.WriteAllBytes(log, before);
        registry = Open(snapshotBytes: 1536);
        Assert.Equal("1000", registry.Get("r-1")?.Overrides["retention.ms"] ?? "gone");
        Assert.Null(registry.Get("r-2"));
    }

    [Fact]
    public void A_deleted_topic_never_comes_back_even_when_its_directories_survive_a_crash()
    {
        TopicRegistry registry = Open();
        Create(registry, "doomed", 3);
        Assert.Equal(AppendStatus.Success, registry.Partition("doomed", 1)!.Append(Batches.Create(5)).Status);
        Create(registry, "stays", 1);
        string copy = Path.Combine(Path.GetTempPath(), "logbroker-tests", $"copy-{Guid.NewGuid():N}");
        for (int p = 0; p < 3; p++)
        {
            CopyDirectory(_dir.Combine($"doomed-{p}"), Path.Combine(copy, $"doomed-{p}"));
        }

        Assert.Equal(ErrorCode.None, registry.Delete("doomed"));
        Close();

        // The state a crash after the tombstone and before the directories went leaves.
        for (int p = 0; p < 3; p++)
        {
            CopyDirectory(Path.Combine(copy, $"doomed-{p}"), _dir.Combine($"doomed-{p}"));
        }

        Directory.Delete(copy, recursive: true);
        registry = Open();
        Assert.Null(registry.Get("doomed"));
        Assert.NotNull(registry.Get("stays"));
        for (int p = 0; p < 3; p++)
        {
            Assert.False(Directory.Exists(_dir.Combine($"doomed-{p}")), $"stray doomed-{p} was not deleted");
        }

        registry = Reopen();
        Assert.Null(registry.Get("doomed"));
    }

    [Fact]
    public void Partitions_created_but_never_recorded_are_deleted_at_start()
    {
        TopicRegistry registry = Open();
        Create(registry, "grows", 2);
        Close();

        // A crash after the directories of a creation (or of new partitions) and before its record.
        using (LogManager logs = LogManager.Open(new StorageOptions { DataDirectory = _dir.Path, Log = SmallConfig }))
        {
            logs.GetOrCreate(new TopicPartition("unrecorded", 0));
            logs.GetOrCreate(new TopicPartition("unrecorded", 1));
            logs.GetOrCreate(new TopicPartition("grows", 2));
        }

        registry = Open();
        Assert.Null(registry.Get("unrecorded"));
        Assert.Equal(2, registry.Get("grows")!.Partitions.Length);
        Assert.False(Directory.Exists(_dir.Combine("unrecorded-0")));
        Assert.False(Directory.Exists(_dir.Combine("grows-2")));
    }

    [Fact]
    public void Without_any_metadata_partition_directories_become_topics_again()
    {
        using (LogManager logs = LogManager.Open(new StorageOptions { DataDirectory = _dir.Path, Log = SmallConfig }))
        {
            logs.GetOrCreate(new TopicPartition("found", 0));
            logs.GetOrCreate(new TopicPartition("found", 1));
        }

        TopicRegistry registry = Open();
        Assert.Equal(2, registry.Get("found")!.Partitions.Length);
        Assert.Equal(2, Reopen().Get("found")!.Partitions.Length);
    }

    [Fact]
    public void A_topic_of_the_longest_name_is_deleted_whole_and_a_new_one_of_that_name_starts_empty()
    {
        string name = new('x', TopicPartition.MaxTopicLength);
        TopicRegistry registry = Open();
        Create(registry, name, 12);
        for (int p = 0; p < 12; p++)
        {
            Assert.Equal(AppendStatus.Success, registry.Partition(name, p)!.Append(Batches.Create(3)).Status);
        }

        Assert.Equal(ErrorCode.None, registry.Delete(name));
        Assert.Empty(Directory.EnumerateDirectories(_dir.Path, "xxx*"));
        Create(registry, name, 12);
        for (int p = 0; p < 12; p++)
        {
            Assert.Equal(0, registry.Partition(name, p)!.LogEndOffset);
        }

        registry = Reopen();
        Assert.Equal(12, registry.Get(name)!.Partitions.Length);
        Assert.Equal(0, registry.Partition(name, 11)!.LogEndOffset);
    }

    [Fact]
    public void Names_longer_than_Kafkas_limit_are_refused()
    {
        TopicRegistry registry = Open();
        Assert.Equal(ErrorCode.InvalidTopicException, registry.Create(new string('y', TopicPartition.MaxTopicLength + 1), 1, NoConfigs, false, out string? message));
        Assert.Contains("249", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Partitions_per_topic_and_per_broker_are_capped()
    {
        TopicRegistry registry = Open(limits: new TopicLimits(MaxPartitionsPerTopic: 5, MaxPartitionsPerBroker: 8));
        Assert.Equal(ErrorCode.InvalidPartitions, registry.Create("big", 6, NoConfigs, false, out string? message));
        Assert.Contains("MaxPartitionsPerTopic", message, StringComparison.Ordinal);
        Create(registry, "a", 4);
        Assert.Equal(ErrorCode.InvalidPartitions, registry.AddPartitions("a", 6, false, out _));
        Assert.Equal(ErrorCode.PolicyViolation, registry.Create("b", 5, NoConfigs, false, out message));
        Assert.Contains("MaxPartitionsPerBroker", message, StringComparison.Ordinal);
        Create(registry, "b", 3);
        Assert.Equal(ErrorCode.None, registry.AddPartitions("a", 5, false, out _));
        Assert.Equal(ErrorCode.PolicyViolation, registry.AddPartitions("b", 4, false, out _));
        Assert.Equal(ErrorCode.PolicyViolation, registry.Create("c", 1, NoConfigs, false, out _));
        Assert.Equal(ErrorCode.None, registry.Delete("b"));
        Create(registry, "c", 3);
        Assert.False(Directory.Exists(_dir.Combine("big-0")));
        Assert.False(Directory.Exists(_dir.Combine("b-3")));
        Assert.Equal(8, Reopen().Topics.Sum(t => t.Partitions.Length));
    }

    [Fact]
    public async Task Changes_wait_for_no_partition_work_of_another_topic()
    {
        TopicRegistry registry = Open(limits: new TopicLimits(10_000, 100_000));
        Create(registry, "configured", 1);
        const int Wide = 1000;
        var creating = Task.Run(() => registry.Create("wide", Wide, NoConfigs, false, out _), TestContext.Current.CancellationToken);
        SpinWait.SpinUntil(() => Directory.Exists(_dir.Combine("wide-0")) || creating.IsCompleted, TimeSpan.FromSeconds(30));
        Assert.Equal(ErrorCode.None, registry.SetConfigs("configured", new Dictionary<string, string> { ["retention.ms"] = "5000" }, false, out _));
        registry.AllocateProducerId();
        int made = Directory.EnumerateDirectories(_dir.Path, "wide-*").Count();
        Assert.Equal(ErrorCode.None, await creating);
        Assert.True(made < Wide, $"AlterConfigs and InitProducerId waited for the creation of another topic's {Wide} partitions");
    }

    /// <summary>A full filesystem: the metadata append fails, the request fails, memory is unchanged, nothing is left behind.</summary>
    [Fact]
    public void A_change_that_cannot_be_persisted_fails_and_changes_nothing()
    {
        using var mount = TmpfsMount.TryCreate(4 * 1024 * 1024);
        Assert.SkipWhen(mount is null, "mounting a tmpfs needs root (the tests run as root in CI)");
        try
        {
            TopicRegistry registry = Open(mount!.Path);
            Create(registry, "before", 1);
            long firstPid = registry.AllocateProducerId();

            string log = Path.Combine(mount.Path, MetadataLog.LogFileName);
            PadToPageEnd(registry, log);
            mount.Fill();

            // A producer-id block cannot be reserved: no id at all, and none handed out later from it.
            for (long i = firstPid + 1; i < TopicRegistry.ProducerIdBlock; i++)
            {
                registry.AllocateProducerId();
            }

            Assert.Throws<IOException>(() => registry.AllocateProducerId());

            // A creation whose record needs a new page: refused, nothing published, no directory left.
            var requests = new List<TopicRequest>();
            for (int i = 0; i < 20; i++)
            {
                requests.Add(new TopicRequest($"{new string('n', 200)}-{i}", 1, NoConfigs));
            }

            Assert.All(registry.Create(requests, validateOnly: false), r => Assert.Equal(ErrorCode.KafkaStorageError, r.Error));
            Assert.All(requests, r => Assert.Null(registry.Get(r.Name)));
            Assert.Empty(Directory.EnumerateDirectories(mount.Path, "nnn*"));
            Assert.Equal(ErrorCode.KafkaStorageError, registry.SetConfigs("before", new Dictionary<string, string> { ["compression.type"] = "gzip" }, false, out _));
            Assert.Empty(registry.Get("before")!.Overrides);

            mount.Free();
            long next = registry.AllocateProducerId();
            Assert.Equal(TopicRegistry.ProducerIdBlock, next);
            Assert.Equal(ErrorCode.None, registry.Create(requests[0].Name, 1, NoConfigs, false, out _));

            registry = Reopen(mount.Path);
            Assert.NotNull(registry.Get("before"));
            Assert.NotNull(registry.Get(requests[0].Name));
            Assert.Null(registry.Get(requests[1].Name));
            Assert.True(registry.AllocateProducerId() >= 2 * TopicRegistry.ProducerIdBlock);
        }
        finally
        {
            mount.Free(); // a partition closed on a full tmpfs would take a SIGBUS writing its index (not this test's subject)
            Close(); // before the mount goes
        }
    }

    private static void PadToPageEnd(TopicRegistry registry, string log)
    {
        // Producer-id records (17 bytes, harmless: the largest wins) until the next one would need a new 4 KiB page.
        while (new FileInfo(log).Length % 4096 is var offset && offset != 0 && 4096 - offset >= 17)
        {
            registry.MetadataLog.Append([MetadataRecord.ProducerIdsReserved(0)]);
        }
    }

    private static void AssertFixtureTopics(TopicRegistry registry)
    {
        Assert.Equal("q1Wk2Jc7RfyQn0bV8mXo3A", registry.ClusterId);
        Topic events = registry.Get("events")!;
        Assert.Equal(Guid.Parse("0f8e4c52-3d61-4f0a-9b8e-2a7c5d1e9f30"), events.Id);
        Assert.Equal(3, events.Partitions.Length);
        Assert.Equal(TimeSpan.FromHours(1), events.Config.RetentionTime);
        Assert.Equal(1024 * 1024, events.Config.SegmentBytes);
        Assert.Equal("3600000", events.Overrides["retention.ms"]);
        Assert.Single(registry.Get("orders")!.Partitions);
        Assert.Equal(2, registry.Topics.Count);
    }

    private static void Create(TopicRegistry registry, string name, int partitions) =>
        Assert.Equal(ErrorCode.None, registry.Create(name, partitions, NoConfigs, validateOnly: false, out _));

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }

    private TopicRegistry Open(string? path = null, TopicLimits? limits = null, long snapshotBytes = MetadataLog.DefaultSnapshotBytes)
    {
        _logs = LogManager.Open(new StorageOptions { DataDirectory = path ?? _dir.Path, Log = SmallConfig });
        _registry = new TopicRegistry(_logs, SmallConfig, NullLogger<TopicRegistry>.Instance, limits, snapshotBytes);
        return _registry;
    }

    private TopicRegistry Reopen(string? path = null, long snapshotBytes = MetadataLog.DefaultSnapshotBytes)
    {
        Close();
        return Open(path, snapshotBytes: snapshotBytes);
    }

    private void Close()
    {
        _registry?.Dispose();
        _logs?.Dispose();
        _registry = null;
        _logs = null;
    }

    /// <summary>A small tmpfs, filled and freed on demand; unmounted on dispose.</summary>
    private sealed class TmpfsMount : IDisposable
    {
        private TmpfsMount(string path) => Path = path;

        public string Path { get; }

        private string Filler => System.IO.Path.Combine(Path, "filler");

        public static TmpfsMount? TryCreate(long bytes)
        {
            string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "logbroker-tests", $"tmpfs-{Guid.NewGuid():N}");
            Directory.CreateDirectory(path);
            using Process? mount = Process.Start("mount", ["-t", "tmpfs", "-o", $"size={bytes}", "tmpfs", path]);
            mount?.WaitForExit();
            if (mount is null || mount.ExitCode != 0)
            {
                Directory.Delete(path);
                return null;
            }

            return new TmpfsMount(path);
        }

        public void Fill()
        {
            using var file = new FileStream(Filler, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
            byte[] chunk = new byte[4096];
            try
            {
                while (true)
                {
                    file.Write(chunk);
                }
            }
            catch (IOException)
            {
            }
        }

        public void Free() => File.Delete(Filler);

        public void Dispose()
        {
            using (Process? umount = Process.Start("umount", ["-l", Path]))
            {
                umount?.WaitForExit();
            }

            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
