using LogBroker.Protocol.Records;

namespace LogBroker.Storage.Benchmarks;

/// <summary>Batches and partitions shared by the benchmarks.</summary>
internal static class Data
{
    /// <summary>Where benchmark partitions live: the same disk as the temp directory.</summary>
    public static readonly string Root = Path.Combine(Path.GetTempPath(), "logbroker-bench");

    /// <summary>Default settings, without time retention and with room for 1 MiB batches.</summary>
    public static readonly LogConfig Config = LogConfig.Default with { RetentionTime = null, MaxMessageBytes = 2 * 1024 * 1024 };

    /// <summary>An uncompressed batch of 100-byte records, about <paramref name="bytes"/> long.</summary>
    public static byte[] Batch(int bytes, long timestamp = 1_700_000_000_000)
    {
        var builder = new RecordBatchBuilder();
        byte[] value = new byte[100];
        new Random(3).NextBytes(value);
        while (RecordBatch.HeaderSize + ((builder.Count + 1) * 106) <= bytes)
        {
            builder.Add(timestamp + builder.Count, default, value, keyIsNull: true);
        }

        return builder.ToArray();
    }

    /// <summary>
    /// A cleanly closed partition of about <paramref name="gib"/> GiB of 1 MiB batches in 1 GiB
    /// segments, built once and kept between runs (it takes a while); timestamps grow by 1 ms per record.
    /// </summary>
    public static string LargePartition(int gib)
    {
        string directory = Path.Combine(Root, $"large-{gib}g");
        string done = Path.Combine(directory, "built");
        if (File.Exists(done))
        {
            return directory;
        }

        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }

        byte[] batch = Batch(1024 * 1024);
        using (PartitionLog log = PartitionLog.Open(directory, Config, cleanShutdown: true))
        {
            long target = (long)gib << 30;
            long timestamp = 1_700_000_000_000;
            while (log.Size < target)
            {
                // Rewrite the timestamps so the time index has something to index.
                System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatch.BaseTimestampOffset), timestamp);
                System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatch.MaxTimestampOffset), timestamp + 9000);
                RecordBatch.WriteCrc(batch);
                log.Append(batch);
                timestamp += 10_000;
            }
        }

        File.WriteAllText(done, "ok");
        return directory;
    }
}
