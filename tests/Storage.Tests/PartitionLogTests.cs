using System.Buffers.Binary;
using LogBroker.Protocol.Records;
using LogBroker.TestKit;

namespace LogBroker.Storage.Tests;

public sealed class PartitionLogTests() : LogDirectoryTest("partition")
{
    private static readonly LogConfig Small = StorageTestDefaults.SmallLog;

    private PartitionLog Open(LogConfig? config = null, bool clean = true, long recoveryPoint = 0, long logStart = 0) =>
        PartitionLog.Open(Dir.Path, config ?? Small, clean, recoveryPoint, logStart, Time);

    [Fact]
    public void Append_assigns_consecutive_offsets_and_rewrites_only_the_broker_fields()
    {
        using PartitionLog log = Open();
        byte[] first = Batches.Create(3);
        byte[] second = Batches.Create(5);
        byte[] original = (byte[])first.Clone();

        AppendResult a = log.Append(first);
        AppendResult b = log.Append(second);

        Assert.Equal((AppendStatus.Success, 0L, 2L), (a.Status, a.BaseOffset, a.LastOffset));
        Assert.Equal((AppendStatus.Success, 3L, 7L), (b.Status, b.BaseOffset, b.LastOffset));
        Assert.Equal(8, log.LogEndOffset);
        Assert.Equal(original, first); // the caller's buffer is untouched

        using LogReadResult read = log.Read(0, int.MaxValue);
        var batches = Batches.Split(read.Records.Span);
        Assert.Equal([(0L, 3), (3L, 5)], batches.Select(x => (x.BaseOffset, x.Records)));
        // Apart from base offset (0..7) and leader epoch (12..15), stored bytes equal the produced ones.
        Assert.Equal(first.AsSpan(16).ToArray(), batches[0].Bytes.AsSpan(16).ToArray());
        Assert.Equal(second.AsSpan(16).ToArray(), batches[1].Bytes.AsSpan(16).ToArray());
        Assert.Equal(0, BinaryPrimitives.ReadInt32BigEndian(batches[1].Bytes.AsSpan(12)));
    }

    [Fact]
    public void Batches_from_real_clients_are_stored_and_served_byte_for_byte_except_the_broker_fields()
    {
        using PartitionLog log = Open(Small with { SegmentBytes = 1 << 20 });
        var produced = new List<byte[]>();
        foreach (ProduceFrame frame in GoldenFrame.ProduceFrames)
        {
            byte[] batch = GoldenFrame.RecordBatchIn(GoldenFrame.Request(frame.Client, frame.Stem));
            produced.Add(batch);
            Assert.Equal(AppendStatus.Success, log.Append(batch).Status);
        }

        using LogReadResult read = log.Read(0, int.MaxValue);
        var stored = Batches.Split(read.Records.Span);
        Assert.Equal(produced.Count, stored.Count);
        for (int i = 0; i < produced.Count; i++)
        {
            Assert.Equal(i * 10L, stored[i].BaseOffset);
            Assert.Equal(produced[i].AsSpan(16).ToArray(), stored[i].Bytes.AsSpan(16).ToArray());
        }
    }

    [Fact]
    public void Read_from_an_offset_inside_a_batch_returns_that_whole_batch()
    {
        using PartitionLog log = Open();
        log.Append(Batches.Create(4));
        log.Append(Batches.Create(4));

        using LogReadResult read = log.Read(6, int.MaxValue);

        Assert.Equal(ReadStatus.Success, read.Status);
        Assert.Equal(4, Batches.Split(read.Records.Span).Single().BaseOffset);
    }

    [Fact]
    public void Read_returns_whole_batches_within_max_bytes_but_always_at_least_one()
    {
        using PartitionLog log = Open(Small with { SegmentBytes = 1 << 20 });
        byte[] batch = Batches.Create(10, valueBytes: 50);
        for (int i = 0; i < 5; i++)
        {
            log.Append(batch);
        }

        using (LogReadResult one = log.Read(0, 1))
        {
            Assert.Equal(batch.Length, one.Records.Length);
        }

        using (LogReadResult two = log.Read(0, (2 * batch.Length) + batch.Length - 1))
        {
            Assert.Equal(2 * batch.Length, two.Records.Length);
        }
    }

    [Fact]
    public void Read_at_the_end_is_empty_and_outside_the_log_is_out_of_range()
    {
        using PartitionLog log = Open();
        log.Append(Batches.Create(2));

        using LogReadResult atEnd = log.Read(2, 1000);
        using LogReadResult past = log.Read(3, 1000);
        using LogReadResult negative = log.Read(-1, 1000);

        Assert.Equal((ReadStatus.Success, 0), (atEnd.Status, atEnd.Records.Length));
        Assert.Equal(ReadStatus.OffsetOutOfRange, past.Status);
        Assert.Equal(ReadStatus.OffsetOutOfRange, negative.Status);
        Assert.Equal((0L, 2L), (past.LogStartOffset, past.LogEndOffset));
    }

    [Theory]
    [InlineData(BatchValidation.CrcMismatch)]
    [InlineData(BatchValidation.UnsupportedMagic)]
    [InlineData(BatchValidation.InvalidLength)]
    [InlineData(BatchValidation.Truncated)]
    public void Append_refuses_a_bad_batch_and_writes_nothing(BatchValidation damage)
    {
        using PartitionLog log = Open();
        byte[] batch = Batches.Create(3);
        switch (damage)
        {
            case BatchValidation.CrcMismatch:
                batch[^1] ^= 0xFF;
                break;
            case BatchValidation.UnsupportedMagic:
                batch[RecordBatch.MagicOffset] = 1;
                break;
            case BatchValidation.InvalidLength:
                BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.LengthOffset), -5);
                break;
            case BatchValidation.Truncated:
                batch = batch[..^1];
                break;
        }

        AppendResult result = log.Append(batch);

        Assert.Equal(AppendStatus.InvalidBatch, result.Status);
        Assert.Equal(damage, result.Validation);
        Assert.Equal(0, log.LogEndOffset);
        Assert.Equal(0, log.Size);
    }

    [Fact]
    public void Append_refuses_trailing_bytes_after_the_batch()
    {
        using PartitionLog log = Open();
        byte[] batch = [.. Batches.Create(1), 0, 0, 0];

        Assert.Equal(BatchValidation.InvalidLength, log.Append(batch).Validation);
    }

    [Fact]
    public void Append_refuses_a_batch_over_max_message_bytes()
    {
        using PartitionLog log = Open(Small with { MaxMessageBytes = 200 });

        Assert.Equal(AppendStatus.BatchTooLarge, log.Append(Batches.Create(5, valueBytes: 100)).Status);
        Assert.Equal(AppendStatus.Success, log.Append(Batches.Create(1, valueBytes: 10)).Status);
    }

    [Fact]
    public void Segments_roll_by_size_and_reads_cross_them()
    {
        using PartitionLog log = Open();
        byte[] batch = Batches.Create(10, valueBytes: 40); // ~ 570 bytes: 7 per 4 KiB segment
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(i * 10L, log.Append(batch).BaseOffset);
        }

        Assert.True(log.SegmentCount >= 5, $"only {log.SegmentCount} segments");
        for (long offset = 0; offset < 400; offset += 7)
        {
            using LogReadResult read = log.Read(offset, 1);
            var found = Batches.Split(read.Records.Span).Single();
            Assert.Equal(offset / 10 * 10, found.BaseOffset);
        }

        foreach (string file in Directory.EnumerateFiles(Dir.Path, "*.log").Order().SkipLast(1))
        {
            Assert.True(new FileInfo(file).Length <= 4096, "sealed segments are trimmed");
        }
    }

    [Fact]
    public void A_batch_larger_than_the_segment_size_gets_a_segment_of_its_own()
    {
        using PartitionLog log = Open(Small with { MaxMessageBytes = 1 << 20 });
        log.Append(Batches.Create(1));
        AppendResult big = log.Append(Batches.Create(100, valueBytes: 100)); // ~ 11 KiB > 4 KiB

        Assert.Equal(AppendStatus.Success, big.Status);
        using LogReadResult read = log.Read(big.BaseOffset, 1);
        Assert.Equal(100, Batches.Split(read.Records.Span).Single().Records);
    }

    [Fact]
    public void The_active_segment_rolls_when_older_than_segment_age()
    {
        using PartitionLog log = Open(Small with { SegmentBytes = 1 << 20, SegmentAge = TimeSpan.FromHours(1) });
        log.Append(Batches.Create(1));
        log.Append(Batches.Create(1));
        Assert.Equal(1, log.SegmentCount);

        Time.Advance(TimeSpan.FromMinutes(61));
        log.Append(Batches.Create(1));

        Assert.Equal([0L, 2L], log.SegmentBaseOffsets);
    }

    [Fact]
    public void OffsetForTimestamp_finds_the_first_record_at_or_after_the_time_across_segments()
    {
        using PartitionLog log = Open();
        long t0 = 1_700_000_000_000;
        for (int i = 0; i < 60; i++)
        {
            // 5 records per batch, timestamps t0 + 10*offset
            long baseTs = t0 + (i * 50);
            log.Append(Batches.WithTimestamps(baseTs, baseTs + 10, baseTs + 20, baseTs + 30, baseTs + 40));
        }

        Assert.True(log.SegmentCount > 1);
        Assert.Equal((0L, t0), log.OffsetForTimestamp(0));
        Assert.Equal((0L, t0), log.OffsetForTimestamp(t0));
        Assert.Equal((1L, t0 + 10), log.OffsetForTimestamp(t0 + 1));
        Assert.Equal((123L, t0 + 1230), log.OffsetForTimestamp(t0 + 1225));
        Assert.Equal((299L, t0 + 2990), log.OffsetForTimestamp(t0 + 2990));
        Assert.Null(log.OffsetForTimestamp(t0 + 2991));
        Assert.Equal((295L, t0 + 2990), log.MaxTimestamp());
    }

    [Fact]
    public void OffsetForTimestamp_handles_timestamps_that_go_backwards()
    {
        using PartitionLog log = Open();
        log.Append(Batches.WithTimestamps(1000, 5000)); // offsets 0, 1
        log.Append(Batches.WithTimestamps(2000, 3000)); // offsets 2, 3
        log.Append(Batches.WithTimestamps(6000));       // offset 4

        Assert.Equal((1L, 5000L), log.OffsetForTimestamp(4000)); // first record ≥ 4000 in offset order
        Assert.Equal((1L, 5000L), log.OffsetForTimestamp(1500)); // the first batch with max ≥ 1500
        Assert.Equal((4L, 6000L), log.OffsetForTimestamp(5500));
    }

    [Fact]
    public void Retention_by_time_deletes_old_segments_and_moves_the_log_start()
    {
        using PartitionLog log = Open(Small with { RetentionTime = TimeSpan.FromHours(1) });
        long now = Time.GetUtcNow().ToUnixTimeMilliseconds();
        byte[] old = Batches.Create(10, valueBytes: 40, timestamp: now - (2 * 3600_000));
        for (int i = 0; i < 20; i++)
        {
            log.Append(old);
        }

        byte[] fresh = Batches.Create(10, valueBytes: 40, timestamp: now);
        for (int i = 0; i < 8; i++)
        {
            log.Append(fresh);
        }

        int before = log.SegmentCount;
        int deleted = log.ApplyRetention();

        Assert.True(deleted > 0);
        Assert.Equal(before - deleted, log.SegmentCount);
        Assert.True(log.LogStartOffset <= 200, "no fresh record may be deleted");
        Assert.Equal(log.SegmentBaseOffsets[0], log.LogStartOffset);
        using LogReadResult gone = log.Read(0, 100);
        Assert.Equal(ReadStatus.OffsetOutOfRange, gone.Status);
        Assert.Equal(log.SegmentCount, Directory.EnumerateFiles(Dir.Path, "*.log").Count());
    }

    [Fact]
    public void Retention_by_time_rolls_and_deletes_an_expired_active_segment()
    {
        using PartitionLog log = Open(Small with { SegmentBytes = 1 << 20, RetentionTime = TimeSpan.FromHours(1) });
        long now = Time.GetUtcNow().ToUnixTimeMilliseconds();
        log.Append(Batches.Create(5, timestamp: now));
        Time.Advance(TimeSpan.FromHours(2));

        Assert.Equal(1, log.ApplyRetention());
        Assert.Equal((5L, 5L), (log.LogStartOffset, log.LogEndOffset));
        Assert.Equal(6, log.Append(Batches.Create(1)).BaseOffset + 1);
    }

    [Fact]
    public void Retention_by_size_keeps_the_partition_under_the_limit()
    {
        using PartitionLog log = Open(Small with { RetentionBytes = 10_000 });
        byte[] batch = Batches.Create(10, valueBytes: 40);
        for (int i = 0; i < 60; i++)
        {
            log.Append(batch);
        }

        log.ApplyRetention();

        Assert.True(log.Size <= 10_000 + 4096, $"size {log.Size}");
        Assert.True(log.Size > 10_000 - 4096, $"size {log.Size}: deleted too much");
        Assert.Equal(log.SegmentBaseOffsets[0], log.LogStartOffset);
    }

    [Fact]
    public void DeleteRecordsBefore_moves_the_start_and_drops_whole_segments_below_it()
    {
        using PartitionLog log = Open();
        byte[] batch = Batches.Create(10, valueBytes: 40);
        for (int i = 0; i < 30; i++)
        {
            log.Append(batch);
        }

        int segments = log.SegmentCount;
        Assert.Equal(155, log.DeleteRecordsBefore(155));

        Assert.True(log.SegmentCount < segments);
        using (LogReadResult below = log.Read(154, 100))
        {
            Assert.Equal(ReadStatus.OffsetOutOfRange, below.Status);
        }

        using (LogReadResult at = log.Read(155, 1))
        {
            Assert.Equal(150, Batches.Split(at.Records.Span).Single().BaseOffset);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => log.DeleteRecordsBefore(301));
    }

    [Fact]
    public void TruncateTo_removes_the_tail_even_across_segments_and_appends_continue()
    {
        using PartitionLog log = Open();
        byte[] batch = Batches.Create(10, valueBytes: 40);
        for (int i = 0; i < 30; i++)
        {
            log.Append(batch);
        }

        Assert.Equal(120, log.TruncateTo(120));
        Assert.Equal(120, log.LogEndOffset);
        Assert.Equal(120, log.Append(Batches.Create(3)).BaseOffset);
        Assert.Equal(120, log.TruncateTo(121)); // mid-batch: the whole batch goes

        log.Dispose();
        using PartitionLog reopened = Open(clean: false);
        Assert.Equal(120, reopened.LogEndOffset);
        using LogReadResult read = reopened.Read(110, int.MaxValue);
        Assert.Equal(110, Batches.Split(read.Records.Span).Last().BaseOffset);
    }

    [Fact]
    public void TruncateTo_below_the_first_segment_starts_an_empty_log_there()
    {
        using PartitionLog log = Open();
        log.Append(Batches.Create(10));

        Assert.Equal(0, log.TruncateTo(0));
        Assert.Equal(0, log.Append(Batches.Create(1)).BaseOffset);
    }

    [Fact]
    public void A_clean_reopen_restores_offsets_timestamps_and_indexes()
    {
        long lastTimestamp;
        using (PartitionLog log = Open())
        {
            for (int i = 0; i < 50; i++)
            {
                log.Append(Batches.Create(10, valueBytes: 40, timestamp: 1_700_000_000_000 + (i * 100)));
            }

            lastTimestamp = log.MaxTimestamp()!.Value.Timestamp;
        }

        using PartitionLog reopened = Open(clean: true);
        Assert.Equal(500, reopened.LogEndOffset);
        Assert.Equal(lastTimestamp, reopened.MaxTimestamp()!.Value.Timestamp);
        Assert.Equal((250L, 1_700_000_000_000 + 2500), reopened.OffsetForTimestamp(1_700_000_000_000 + 2500));
        Assert.Equal(500, reopened.Append(Batches.Create(1)).BaseOffset);
    }

    [Fact]
    public void Flush_advances_the_recovery_point_and_flush_messages_flushes_inside_append()
    {
        using PartitionLog log = Open(Small with { FlushMessages = 5 });
        log.Append(Batches.Create(3));
        Assert.Equal(0, log.RecoveryPoint);
        log.Append(Batches.Create(3));
        Assert.Equal(6, log.RecoveryPoint);

        log.Append(Batches.Create(1));
        log.Flush();
        Assert.Equal(7, log.RecoveryPoint);
    }

    [Fact]
    public void FlushIfDue_flushes_after_flush_interval()
    {
        using PartitionLog log = Open(Small with { FlushInterval = TimeSpan.FromSeconds(10) });
        log.Append(Batches.Create(3));
        log.FlushIfDue();
        Assert.Equal(0, log.RecoveryPoint);

        Time.Advance(TimeSpan.FromSeconds(11));
        log.FlushIfDue();
        Assert.Equal(3, log.RecoveryPoint);
    }

    [Fact]
    public void Append_after_dispose_throws()
    {
        PartitionLog log = Open();
        log.Dispose();

        Assert.Throws<ObjectDisposedException>(() => log.Append(Batches.Create(1)));
    }
}
