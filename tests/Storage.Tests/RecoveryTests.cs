using System.Buffers.Binary;
using LogBroker.Protocol.Records;
using LogBroker.TestKit;

namespace LogBroker.Storage.Tests;

/// <summary>
/// Crash recovery: the files are left as a crash leaves them (<see cref="PartitionLog.Abandon"/>:
/// no flush, no trim), damaged on purpose, and reopened. Every batch before the damage must be intact and readable, nothing after it served.
/// </summary>
public sealed class RecoveryTests() : LogDirectoryTest("recovery")
{
    private static readonly LogConfig Small = StorageTestDefaults.SmallLog;


    private PartitionLog Open(bool clean, long recoveryPoint = 0) => PartitionLog.Open(Dir.Path, Small, clean, recoveryPoint, 0, Time);

    /// <summary>Writes <paramref name="batches"/> batches of 3–7 records and returns each stored batch (bytes as read back).</summary>
    private List<(long BaseOffset, byte[] Bytes)> Fill(PartitionLog log, int batches)
    {
        var stored = new List<(long, byte[])>();
        for (int i = 0; i < batches; i++)
        {
            AppendResult result = log.Append(Batches.Create(3 + (i % 5), valueBytes: 20 + (i % 7), timestamp: 1_700_000_000_000 + (i * 100), tag: "b" + i));
            using LogReadResult read = log.Read(result.BaseOffset, 1);
            stored.Add((result.BaseOffset, read.Records.ToArray()));
        }

        return stored;
    }

    private static void AssertReadsExactly(PartitionLog log, List<(long BaseOffset, byte[] Bytes)> expected)
    {
        long end = expected.Count == 0 ? log.LogStartOffset : expected[^1].BaseOffset + Batches.Split(expected[^1].Bytes)[0].Records;
        Assert.Equal(end, log.LogEndOffset);
        foreach ((long baseOffset, byte[] bytes) in expected)
        {
            using LogReadResult read = log.Read(baseOffset, 1);
            Assert.Equal(ReadStatus.Success, read.Status);
            Assert.Equal(bytes, read.Records.ToArray());
        }

        using LogReadResult past = log.Read(end, 1 << 20);
        Assert.Equal(0, past.Records.Length);
    }

    private string LastSegmentFile() => Directory.EnumerateFiles(Dir.Path, "*.log").Order(StringComparer.Ordinal).Last();

    private static long BatchPosition(string logFile, int index)
    {
        byte[] bytes = File.ReadAllBytes(logFile);
        long position = 0;
        for (int i = 0; i < index; i++)
        {
            position += BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan((int)position + RecordBatch.LengthOffset)) + RecordBatch.LogOverhead;
        }

        return position;
    }

    [Fact]
    public void A_crash_with_a_zero_tail_loses_nothing()
    {
        List<(long, byte[])> stored;
        using (PartitionLog log = Open(clean: true))
        {
            stored = Fill(log, 40);
            log.Abandon();
        }

        // Files are exactly as long as what was written (nothing preallocated); a zero tail is what an
        // older version's preallocation or a power loss after a file size update leaves.
        string last = LastSegmentFile();
        long written = new FileInfo(last).Length;
        long segmentBase = long.Parse(Path.GetFileNameWithoutExtension(last), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(written, BatchPosition(last, stored.Count(b => b.Item1 >= segmentBase)));
        using (var stream = new FileStream(last, FileMode.Open))
        {
            stream.SetLength(Small.SegmentBytes);
        }

        using PartitionLog reopened = Open(clean: false);
        AssertReadsExactly(reopened, stored);
        Assert.Equal(written, new FileInfo(last).Length); // the zero tail was cut
    }

    [Fact]
    public void Cutting_the_last_segment_at_every_byte_of_its_last_two_batches_keeps_exactly_the_whole_batches_before_the_cut()
    {
        List<(long BaseOffset, byte[] Bytes)> stored;
        using (PartitionLog log = Open(clean: true))
        {
            stored = Fill(log, 12);
            log.Abandon();
        }

        string file = LastSegmentFile();
        long segmentBase = long.Parse(Path.GetFileNameWithoutExtension(file), System.Globalization.CultureInfo.InvariantCulture);
        List<(long BaseOffset, byte[] Bytes)> inLast = stored.Where(b => b.BaseOffset >= segmentBase).ToList();
        Assert.True(inLast.Count >= 2, "the last segment must hold at least two batches");
        byte[] original = File.ReadAllBytes(file);
        string snapshot = Dir.Combine("snapshot");
        Directory.CreateDirectory(snapshot);
        foreach (string f in Directory.EnumerateFiles(Dir.Path))
        {
            File.Copy(f, Path.Combine(snapshot, Path.GetFileName(f)));
        }

        long lastTwoStart = BatchPosition(file, inLast.Count - 2);
        long lastStart = BatchPosition(file, inLast.Count - 1);
        long dataEnd = BatchPosition(file, inLast.Count);
        for (long cut = lastTwoStart; cut <= dataEnd; cut++)
        {
            foreach (string f in Directory.EnumerateFiles(snapshot))
            {
                File.Copy(f, Path.Combine(Dir.Path, Path.GetFileName(f)), overwrite: true);
            }

            using (var stream = new FileStream(file, FileMode.Open))
            {
                stream.SetLength(cut);
            }

            int whole = cut >= dataEnd ? inLast.Count : cut >= lastStart ? inLast.Count - 1 : inLast.Count - 2;
            var survivors = stored.Take(stored.Count - inLast.Count + whole).ToList();
            using PartitionLog reopened = Open(clean: false);
            AssertReadsExactly(reopened, survivors);
        }

        Assert.Equal(original.Length, new FileInfo(Path.Combine(snapshot, Path.GetFileName(file))).Length);
    }

    [Fact]
    public void After_a_torn_tail_new_appends_survive_a_second_crash_and_the_torn_bytes_never_come_back()
    {
        List<(long BaseOffset, byte[] Bytes)> stored;
        using (PartitionLog log = Open(clean: true))
        {
            stored = Fill(log, 10);
            log.Abandon();
        }

        // Tear the last batch: cut it in its middle.
        string file = LastSegmentFile();
        long lastStart = BatchPosition(file, CountBatches(file) - 1);
        using (var stream = new FileStream(file, FileMode.Open))
        {
            stream.SetLength(lastStart + 30);
        }

        stored.RemoveAt(stored.Count - 1);
        List<(long BaseOffset, byte[] Bytes)> after;
        using (PartitionLog reopened = Open(clean: false))
        {
            AssertReadsExactly(reopened, stored);
            after = Fill(reopened, 1); // a shorter batch where the torn one was
            reopened.Abandon();
        }

        using PartitionLog again = Open(clean: false);
        AssertReadsExactly(again, [.. stored, .. after]);
    }

    private static int CountBatches(string logFile)
    {
        byte[] bytes = File.ReadAllBytes(logFile);
        int count = 0;
        for (int p = 0; p + RecordBatch.LogOverhead <= bytes.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(p + RecordBatch.LengthOffset));
            if (length <= 0)
            {
                break;
            }

            p += length + RecordBatch.LogOverhead;
            count++;
        }

        return count;
    }

    [Theory]
    [InlineData(RecordBatch.LengthOffset)]       // length field
    [InlineData(RecordBatch.MagicOffset)]        // magic
    [InlineData(RecordBatch.CrcOffset + 1)]      // the CRC itself
    [InlineData(RecordBatch.RecordCountOffset)]  // a field inside the CRC
    [InlineData(RecordBatch.HeaderSize + 5)]     // record bytes
    public void A_flipped_byte_in_a_batch_of_the_last_segment_truncates_the_log_there(int offsetInBatch)
    {
        List<(long BaseOffset, byte[] Bytes)> stored;
        using (PartitionLog log = Open(clean: true))
        {
            stored = Fill(log, 12);
            log.Abandon();
        }

        string file = LastSegmentFile();
        long segmentBase = long.Parse(Path.GetFileNameWithoutExtension(file), System.Globalization.CultureInfo.InvariantCulture);
        int inLast = stored.Count(b => b.BaseOffset >= segmentBase);
        Assert.True(inLast >= 3);
        int damaged = inLast / 2;
        long position = BatchPosition(file, damaged) + offsetInBatch;
        using (var stream = new FileStream(file, FileMode.Open))
        {
            stream.Position = position;
            int b = stream.ReadByte();
            stream.Position = position;
            stream.WriteByte((byte)(b ^ 0x5A));
        }

        using PartitionLog reopened = Open(clean: false);
        AssertReadsExactly(reopened, stored.Take(stored.Count - inLast + damaged).ToList());
        Assert.Equal(AppendStatus.Success, reopened.Append(Batches.Create(2)).Status);
    }

    [Fact]
    public void Damage_in_an_earlier_segment_truncates_there_and_deletes_every_later_segment()
    {
        List<(long BaseOffset, byte[] Bytes)> stored;
        using (PartitionLog log = Open(clean: true))
        {
            stored = Fill(log, 80);
            Assert.True(log.SegmentCount >= 4, $"{log.SegmentCount} segments");
            log.Abandon();
        }

        string[] segments = Directory.EnumerateFiles(Dir.Path, "*.log").Order(StringComparer.Ordinal).ToArray();
        string victim = segments[1];
        long victimBase = long.Parse(Path.GetFileNameWithoutExtension(victim), System.Globalization.CultureInfo.InvariantCulture);
        long position = BatchPosition(victim, 1) + RecordBatch.HeaderSize + 3;
        using (var stream = new FileStream(victim, FileMode.Open))
        {
            stream.Position = position;
            stream.WriteByte(0xEE);
            stream.WriteByte(0xEE);
        }

        using PartitionLog reopened = Open(clean: false, recoveryPoint: 0);
        int kept = stored.FindIndex(b => b.BaseOffset >= victimBase) + 1; // the first batch of the victim survives
        AssertReadsExactly(reopened, stored.Take(kept).ToList());
        Assert.Equal([segments[0], segments[1]], Directory.EnumerateFiles(Dir.Path, "*.log").Order(StringComparer.Ordinal));
        long next = reopened.LogEndOffset;
        Assert.Equal(next, reopened.Append(Batches.Create(3)).BaseOffset);
    }

    [Fact]
    public void Below_the_recovery_point_segments_are_trusted_and_not_scanned()
    {
        List<(long BaseOffset, byte[] Bytes)> stored;
        long recoveryPoint;
        using (PartitionLog log = Open(clean: true))
        {
            stored = Fill(log, 40);
            log.Flush();
            recoveryPoint = log.RecoveryPoint;
            log.Abandon();
        }

        // Corrupt a record byte (not a header: the tail walk checks headers and CRCs from the last
        // index entry) in the middle of the first segment, far from its tail.
        string first = Directory.EnumerateFiles(Dir.Path, "*.log").Order(StringComparer.Ordinal).First();
        long position = BatchPosition(first, 0) + RecordBatch.HeaderSize + 2;
        using (var stream = new FileStream(first, FileMode.Open))
        {
            stream.Position = position;
            stream.WriteByte(0x77);
        }

        using (PartitionLog trusted = Open(clean: false, recoveryPoint: recoveryPoint))
        {
            Assert.Equal(stored[^1].BaseOffset + Batches.Split(stored[^1].Bytes)[0].Records, trusted.LogEndOffset);
            trusted.Abandon();
        }

        // With no recovery point the same damage is found and the log is cut at that batch.
        using PartitionLog scanned = Open(clean: false, recoveryPoint: 0);
        Assert.Equal(0, scanned.LogEndOffset);
    }

    [Theory]
    [InlineData("delete", true)]
    [InlineData("delete", false)]
    [InlineData("zeros", true)]
    [InlineData("zeros", false)]
    [InlineData("garbage", true)]
    [InlineData("garbage", false)]
    [InlineData("odd-length", true)]
    [InlineData("odd-length", false)]
    public void Missing_or_corrupt_indexes_are_rebuilt_never_trusted(string damage, bool clean)
    {
        List<(long BaseOffset, byte[] Bytes)> stored;
        using (PartitionLog log = Open(clean: true))
        {
            stored = Fill(log, 40);
        }

        var random = new Random(7);
        foreach (string index in Directory.EnumerateFiles(Dir.Path).Where(f => f.EndsWith(".index", StringComparison.Ordinal) || f.EndsWith(".timeindex", StringComparison.Ordinal)))
        {
            long length = new FileInfo(index).Length;
            switch (damage)
            {
                case "delete":
                    File.Delete(index);
                    break;
                case "zeros":
                    File.WriteAllBytes(index, new byte[Math.Max(length, 24)]);
                    break;
                case "garbage":
                    byte[] bytes = new byte[Math.Max(length, 24)];
                    random.NextBytes(bytes);
                    File.WriteAllBytes(index, bytes);
                    break;
                case "odd-length":
                    File.WriteAllBytes(index, [.. File.ReadAllBytes(index), 1, 2, 3]);
                    break;
            }
        }

        using PartitionLog reopened = Open(clean);
        AssertReadsExactly(reopened, stored);
        for (long offset = 0; offset < reopened.LogEndOffset; offset++)
        {
            using LogReadResult read = reopened.Read(offset, 1);
            (long baseOffset, int records, _) = Batches.Split(read.Records.Span).Single();
            Assert.InRange(offset, baseOffset, baseOffset + records - 1);
        }

        Assert.Equal((stored[20].BaseOffset, 1_700_000_000_000 + 2000), reopened.OffsetForTimestamp(1_700_000_000_000 + 2000));
    }

    [Fact]
    public void The_log_manager_trusts_only_a_clean_shutdown_and_keeps_checkpoints()
    {
        var options = new StorageOptions { DataDirectory = Dir.Path, Log = Small };
        var partition = new TopicPartition("orders", 0);
        using (LogManager manager = LogManager.Open(options, Time))
        {
            PartitionLog log = manager.GetOrCreate(partition);
            Fill(log, 30);
            log.DeleteRecordsBefore(25);
            Assert.Throws<IOException>(() => LogManager.Open(options, Time)); // the directory is locked
        }

        Assert.True(File.Exists(Dir.Combine(".clean-shutdown")));
        Assert.Contains("orders 0 25", File.ReadAllText(Dir.Combine("log-start-offset-checkpoint")), StringComparison.Ordinal);
        long end;
        using (LogManager manager = LogManager.Open(options, Time))
        {
            Assert.True(manager.WasCleanShutdown);
            PartitionLog log = manager.Get(partition)!;
            Assert.Equal(25, log.LogStartOffset);
            end = log.LogEndOffset;
            log.Append(Batches.Create(2));
            manager.Abandon(); // crash: no marker, no checkpoint
        }

        Assert.False(File.Exists(Dir.Combine(".clean-shutdown")));
        File.WriteAllText(Dir.Combine("recovery-point-offset-checkpoint"), "garbage that does not parse");
        Directory.CreateDirectory(Dir.Combine("orders-7.0123456789abcdef-delete"));
        using (LogManager manager = LogManager.Open(options, Time))
        {
            Assert.False(manager.WasCleanShutdown);
            Assert.Equal(end + 2, manager.Get(partition)!.LogEndOffset); // recovered in full despite the bad checkpoint
            Assert.False(Directory.Exists(Dir.Combine("orders-7.0123456789abcdef-delete")));
            Assert.Single(manager.Partitions);
        }
    }
}
