using LogBroker.Protocol.Records;
using LogBroker.Storage.Internal;
using LogBroker.TestKit;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Storage.Tests;

/// <summary>
/// Descriptors and mappings are separate costs (issue 10): a written partition holds one descriptor
/// (its log's) once the index-descriptor budget is spent, a read holds mappings and no descriptor,
/// and index lookups keep working through mappings whose descriptors are closed. Counted from
/// /proc/self/fd and /proc/self/maps, filtered to this test's directory (other tests run in the
/// same process).
/// </summary>
public sealed class DescriptorBudgetTests() : LogDirectoryTest("fdbudget")
{
    private const int Partitions = 40;
    private const int BatchesPerPartition = 30;

    // Index entries every 64 bytes of log, so every partition writes both indexes many times.
    private static readonly LogConfig Config = LogConfig.Default with { SegmentBytes = 1 << 20, SegmentIndexBytes = 4096, IndexIntervalBytes = 64, RetentionTime = null };

    private PartitionLog[] OpenAll(SegmentCache cache) =>
        [.. Enumerable.Range(0, Partitions).Select(i =>
        {
            Directory.CreateDirectory(Dir.Combine($"p-{i}"));
            return PartitionLog.OpenLazily(Dir.Combine($"p-{i}"), Config, needsRecovery: false, 0, 0, Time, NullLogger.Instance, cache, flushRecovered: true);
        })];

    private static void Fill(PartitionLog[] logs)
    {
        for (int b = 0; b < BatchesPerPartition; b++)
        {
            foreach (PartitionLog log in logs)
            {
                Assert.Equal(b * 2, log.Append(Batches.Create(2, valueBytes: 20, tag: $"b{b}")).BaseOffset);
            }
        }
    }

    private (int Logs, int Indexes) Descriptors()
    {
        int logs = 0, indexes = 0;
        if (!OperatingSystem.IsLinux())
        {
            return (0, 0);
        }

        foreach (string fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            string? target;
            try
            {
                target = new FileInfo(fd).LinkTarget;
            }
            catch (IOException)
            {
                continue; // closed meanwhile
            }

            if (target is null || !target.StartsWith(Dir.Path, StringComparison.Ordinal))
            {
                continue;
            }

            logs += target.EndsWith(".log", StringComparison.Ordinal) ? 1 : 0;
            indexes += target.EndsWith(".index", StringComparison.Ordinal) || target.EndsWith(".timeindex", StringComparison.Ordinal) ? 1 : 0;
        }

        return (logs, indexes);
    }

    private int Mappings() => File.ReadLines("/proc/self/maps").Count(line => line.Contains(Dir.Path, StringComparison.Ordinal));

    [Fact]
    public void Past_the_index_budget_each_written_partition_holds_only_its_log_descriptor_and_lookups_still_work()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Counts descriptors in /proc/self/fd.");
        var cache = new SegmentCache(maxOpen: 64, indexDescriptorBudget: 0);
        PartitionLog[] logs = OpenAll(cache);
        Fill(logs);

        (int logDescriptors, int indexDescriptors) = Descriptors();
        Assert.Equal(Partitions, logDescriptors);
        Assert.Equal(0, indexDescriptors);
        Assert.Equal(0, cache.IndexDescriptors);
        Assert.True(File.Exists(Path.Combine(Dir.Combine("p-3"), LogSegment.FileStem(0) + ".index")), "the test must write index entries");

        // A read from the middle looks the offset up in the index through a mapping without a descriptor.
        foreach (PartitionLog log in logs)
        {
            using LogReadResult read = log.Read(41, 1);
            Assert.Equal(ReadStatus.Success, read.Status);
            Assert.Equal(40, RecordBatchHeader.Read(read.Records.Span).BaseOffset);
        }

        Assert.Equal(0, Descriptors().Indexes);
        foreach (PartitionLog log in logs)
        {
            log.Dispose();
        }
    }

    [Fact]
    public void Within_the_index_budget_writers_keep_their_index_descriptors()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Counts descriptors in /proc/self/fd.");
        var cache = new SegmentCache(maxOpen: 64, indexDescriptorBudget: 1000);
        PartitionLog[] logs = OpenAll(cache);
        Fill(logs);

        (int logDescriptors, int indexDescriptors) = Descriptors();
        Assert.Equal(Partitions, logDescriptors);
        Assert.Equal(2 * Partitions, indexDescriptors);
        Assert.Equal(2 * Partitions, cache.IndexDescriptors);
        foreach (PartitionLog log in logs)
        {
            log.Dispose();
        }

        Assert.Equal(0, cache.IndexDescriptors);
    }

    [Fact]
    public void A_partition_only_read_holds_mappings_and_no_descriptor()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Counts descriptors in /proc/self/fd.");
        PartitionLog[] written = OpenAll(new SegmentCache(maxOpen: 64, indexDescriptorBudget: 1000));
        Fill(written);
        foreach (PartitionLog log in written)
        {
            log.Dispose();
        }

        PartitionLog[] reopened = OpenAll(new SegmentCache(maxOpen: 64, indexDescriptorBudget: 1000));
        var held = new List<LogReadResult>();
        foreach (PartitionLog log in reopened)
        {
            held.Add(log.Read(41, 1));
            Assert.Equal(ReadStatus.Success, held[^1].Status);
        }

        Assert.Equal((0, 0), Descriptors());
        Assert.InRange(Mappings(), Partitions, 3 * Partitions); // the log's, and the index's where looked up
        foreach (LogReadResult read in held)
        {
            read.Dispose();
        }

        foreach (PartitionLog log in reopened)
        {
            log.Dispose();
        }
    }
}
