using LogBroker.Storage.Internal;
using LogBroker.TestKit;

namespace LogBroker.Storage.Tests;

/// <summary>
/// The fault seam (<see cref="StorageFaults"/>): one open, write, fsync or mmap of one segment file
/// made to fail on purpose, and what the partition makes of it — a failed partition keeps failing
/// until <see cref="StorageOptions.FailedPartitionRetryInterval"/> has passed, reads keep working,
/// and a limit reached (EMFILE) refuses one call without failing anything.
/// </summary>
public sealed class FaultSeamTests() : LogDirectoryTest("seam")
{
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(10);

    private LogManager Open() => LogManager.Open(new StorageOptions
    {
        DataDirectory = Dir.Path,
        Log = LogConfig.Default with { SegmentBytes = 64 * 1024, SegmentIndexBytes = 4096, IndexIntervalBytes = 0, RetentionTime = null },
        FailedPartitionRetryInterval = RetryInterval,
    }, Time);

    /// <summary>Fails the next <paramref name="count"/> operations of the kind on files whose name ends so.</summary>
    private static void FailNext(LogManager manager, StorageOperation operation, string suffix, int count, Func<Exception> failure)
    {
        int left = count;
        manager.Faults.Inject = (op, path) =>
            op == operation && path.EndsWith(suffix, StringComparison.Ordinal) && Interlocked.Decrement(ref left) >= 0 ? failure() : null;
    }

    [Fact]
    public void A_failed_write_fails_the_partition_until_the_retry_interval_has_passed_and_reads_keep_working()
    {
        using LogManager manager = Open();
        PartitionLog log = manager.GetOrCreate(new TopicPartition("seam", 0));
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(AppendStatus.Success, log.Append(Batches.Create(1)).Status);
        }

        FailNext(manager, StorageOperation.Write, ".log", 1, () => new IOException("injected EIO", 5));
        Assert.Throws<IOException>(() => log.Append(Batches.Create(1)));

        // The fault is gone, but the partition keeps failing every write until the interval has passed.
        for (int i = 0; i < 3; i++)
        {
            Assert.Throws<IOException>(() => log.Append(Batches.Create(1)));
            Assert.Throws<IOException>(() => log.DeleteRecordsBefore(1));
            Assert.Throws<IOException>(() => log.Flush());
            using (LogReadResult read = log.Read(0, 1 << 20))
            {
                Assert.Equal(ReadStatus.Success, read.Status);
                Assert.False(read.Records.IsEmpty);
            }

            Time.Advance(RetryInterval / 4);
        }

        Time.Advance(RetryInterval / 2);
        AppendResult again = log.Append(Batches.Create(1));
        Assert.Equal(AppendStatus.Success, again.Status);
        Assert.Equal(3, again.BaseOffset); // reloaded from disk: the failed batch is not there
    }

    [Fact]
    public void A_failed_fsync_fails_the_partition_for_the_retry_interval()
    {
        using LogManager manager = Open();
        PartitionLog log = manager.GetOrCreate(new TopicPartition("seam", 0));
        Assert.Equal(AppendStatus.Success, log.Append(Batches.Create(1)).Status);
        FailNext(manager, StorageOperation.Flush, ".log", 1, () => new IOException("injected EIO on fsync", 5));
        Assert.Throws<IOException>(() => log.Flush());
        Assert.Equal(0, log.RecoveryPoint);
        Assert.Throws<IOException>(() => log.Append(Batches.Create(1)));
        Time.Advance(RetryInterval);
        Assert.Equal(AppendStatus.Success, log.Append(Batches.Create(1)).Status);
        log.Flush();
        Assert.Equal(log.LogEndOffset, log.RecoveryPoint);
    }

    [Fact]
    public void A_failed_mapping_makes_that_read_a_storage_error_and_the_next_read_works()
    {
        using LogManager manager = Open();
        PartitionLog log = manager.GetOrCreate(new TopicPartition("seam", 0));
        Assert.Equal(AppendStatus.Success, log.Append(Batches.Create(2)).Status); // the writer opens, never maps
        FailNext(manager, StorageOperation.Map, ".log", 1, () => new IOException("injected mmap failure", 22));
        using (LogReadResult failed = log.Read(0, 1 << 20))
        {
            Assert.Equal(ReadStatus.StorageError, failed.Status);
        }

        using LogReadResult read = log.Read(0, 1 << 20);
        Assert.Equal(ReadStatus.Success, read.Status);
        Assert.False(read.Records.IsEmpty);
        Assert.Equal(AppendStatus.Success, log.Append(Batches.Create(1)).Status); // a read fault fails no writes
    }

    /// <summary>EMFILE (the descriptor limit) on the open of a new segment file: that one append is refused, nothing is failed.</summary>
    [Fact]
    public void A_descriptor_limit_on_open_refuses_one_append_and_fails_nothing()
    {
        using LogManager manager = Open();
        PartitionLog log = manager.GetOrCreate(new TopicPartition("seam", 0));
        FailNext(manager, StorageOperation.Open, ".log", 1, () => new IOException("Too many open files", Posix.Emfile));
        Assert.Throws<StorageLimitException>(() => log.Append(Batches.Create(1))); // no idle segment to close: no retry
        AppendResult next = log.Append(Batches.Create(1));
        Assert.Equal(AppendStatus.Success, next.Status);
        Assert.Equal(0, next.BaseOffset);
    }

    /// <summary>With an idle segment to close, EMFILE on open is relieved at once: the append succeeds.</summary>
    [Fact]
    public void A_descriptor_limit_on_open_closes_an_idle_segment_and_the_append_succeeds()
    {
        using LogManager manager = Open();
        PartitionLog idle = manager.GetOrCreate(new TopicPartition("seam", 0));
        PartitionLog busy = manager.GetOrCreate(new TopicPartition("seam", 1));
        Assert.Equal(AppendStatus.Success, idle.Append(Batches.Create(1)).Status);
        Assert.Equal(1, manager.OpenSegments);
        FailNext(manager, StorageOperation.Open, ".log", 1, () => new IOException("Too many open files", Posix.Emfile));
        Assert.Equal(AppendStatus.Success, busy.Append(Batches.Create(1)).Status);
        Assert.Equal(1, manager.OpenFileLimitReliefs);
        Assert.Equal(1, manager.OpenSegments); // the idle one was closed to make room
    }
}
