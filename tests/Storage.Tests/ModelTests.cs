using FsCheck.Xunit;
using LogBroker.TestKit;

namespace LogBroker.Storage.Tests;

/// <summary>
/// Random sequences of appends, reads, rolls, retention, DeleteRecords, truncation, clean reopens and
/// crash reopens, checked after every step against a plain list of batches.
/// </summary>
public sealed class ModelTests
{
    private static readonly LogConfig Small = LogConfig.Default with
    {
        SegmentBytes = 2048,
        IndexIntervalBytes = 200,
        SegmentIndexBytes = 1200,
        RetentionTime = null,
    };

    /// <summary>Each int is one operation: its value mod 8 picks the kind, the rest is its argument.</summary>
    [Property(MaxTest = 80)]
    public void The_partition_agrees_with_a_list_of_batches(int[] operations) => Run(operations);

    /// <summary>A sequence FsCheck found: DeleteRecords moves the start into a batch, then retention deletes nothing.</summary>
    [Fact]
    public void Retention_that_deletes_nothing_keeps_a_start_inside_a_batch() => Run([0, 8, 0, -4, 0, -4, 3]);

    private static void Run(int[] operations)
    {
        using var dir = new TempDirectory("model");
        var model = new List<(long BaseOffset, int Count, byte[] Bytes)>();
        long start = 0, end = 0;
        PartitionLog log = PartitionLog.Open(dir.Path, Small, cleanShutdown: true);
        try
        {
            foreach (int raw in operations.Take(80))
            {
                int argument = (int)((uint)raw / 8);
                switch ((uint)raw % 8)
                {
                    case 0:
                    case 1:
                        {
                            byte[] batch = Batches.Create(1 + (argument % 20), valueBytes: argument % 150, tag: "m" + argument);
                            AppendResult result = log.Append(batch);
                            Assert.Equal(AppendStatus.Success, result.Status);
                            Assert.Equal(end, result.BaseOffset);
                            int count = 1 + (argument % 20);
                            model.Add((end, count, batch));
                            end += count;
                            break;
                        }

                    case 2:
                        log.Roll();
                        break;
                    case 3:
                        {
                            log.UpdateConfig(Small with { RetentionBytes = 1000 + (argument % 4000) });
                            log.ApplyRetention();
                            log.UpdateConfig(Small);
                            Assert.InRange(log.LogStartOffset, start, end);
                            bool moved = log.LogStartOffset != start;
                            start = log.LogStartOffset;
                            // Retention removes whole segments: a start it moves lands on a batch boundary (or the
                            // end). A start DeleteRecords put inside a batch stays there when no segment goes.
                            Assert.True(!moved || start == end || model.Exists(b => b.BaseOffset == start), $"retention moved the start to {start}, inside a batch");
                            break;
                        }

                    case 4:
                        {
                            long target = start + (argument % (end - start + 1));
                            Assert.Equal(Math.Max(start, target), log.DeleteRecordsBefore(target));
                            start = Math.Max(start, target);
                            break;
                        }

                    case 5:
                        {
                            long target = start + (argument % (end - start + 1));
                            int first = model.FindIndex(b => b.BaseOffset + b.Count - 1 >= target);
                            if (first >= 0)
                            {
                                end = model[first].BaseOffset;
                                model.RemoveRange(first, model.Count - first);
                            }

                            Assert.Equal(end, log.TruncateTo(target));
                            start = Math.Min(start, end);
                            break;
                        }

                    case 6:
                        log.Dispose();
                        log = PartitionLog.Open(dir.Path, Small, cleanShutdown: true, recoveryPoint: end, logStartOffset: start);
                        break;
                    default:
                        log.Abandon();
                        log = PartitionLog.Open(dir.Path, Small, cleanShutdown: false, recoveryPoint: 0, logStartOffset: start);
                        break;
                }

                model.RemoveAll(b => b.BaseOffset + b.Count - 1 < start);
                Check(log, model, start, end);
            }
        }
        finally
        {
            log.Dispose();
        }
    }

    private static void Check(PartitionLog log, List<(long BaseOffset, int Count, byte[] Bytes)> model, long start, long end)
    {
        Assert.Equal(end, log.LogEndOffset);
        Assert.Equal(start, log.LogStartOffset);
        long offset = start;
        int next = 0;
        while (offset < end)
        {
            using LogReadResult read = log.Read(offset, 3000);
            Assert.Equal(ReadStatus.Success, read.Status);
            var batches = Batches.Split(read.Records.Span);
            Assert.NotEmpty(batches);
            foreach ((long baseOffset, int count, byte[] bytes) in batches)
            {
                (long expectedBase, int expectedCount, byte[] produced) = model[next++];
                Assert.Equal((expectedBase, expectedCount), (baseOffset, count));
                Assert.True(produced.AsSpan(16).SequenceEqual(bytes.AsSpan(16)), $"batch at {baseOffset} differs from what was appended");
                offset = baseOffset + count;
            }
        }

        Assert.Equal(model.Count, next);
        using LogReadResult past = log.Read(end + 1, 100);
        Assert.Equal(ReadStatus.OffsetOutOfRange, past.Status);
    }
}
