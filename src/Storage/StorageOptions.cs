namespace LogBroker.Storage;

/// <summary>The storage engine's settings: where data lives, partition defaults, background work.</summary>
/// <remarks>Bound from the <c>Storage</c> section of <c>broker.json</c>.</remarks>
public sealed class StorageOptions
{
    /// <summary>Directory holding one <c>&lt;topic&gt;-&lt;partition&gt;</c> folder per partition and the checkpoints.</summary>
    /// <remarks>Default <c>./data</c>, relative to the working directory.</remarks>
    public string DataDirectory { get; set; } = "./data";

    /// <summary>Defaults for every partition that has no override.</summary>
    public LogConfig Log { get; set; } = LogConfig.Default;

    /// <summary>How often the maintenance task applies retention.</summary>
    /// <remarks>Default 5 minutes (Kafka's <c>log.retention.check.interval.ms</c>).</remarks>
    public TimeSpan RetentionCheckInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often the maintenance task checks <see cref="LogConfig.FlushInterval"/>.</summary>
    /// <remarks>Default 1 second (Kafka's <c>log.flush.scheduler.interval.ms</c> is unbounded by default).</remarks>
    public TimeSpan FlushCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often recovery points and log start offsets are written to their checkpoint files.</summary>
    /// <remarks>Default 60 seconds (Kafka's <c>log.flush.offset.checkpoint.interval.ms</c>).</remarks>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Default of <see cref="MaxOpenSegments"/>.</summary>
    public const int DefaultMaxOpenSegments = 12_288;

    /// <summary>
    /// Most segments whose files are open at once, over all partitions. Each holds one file
    /// descriptor while it is written (its log's; appends, index entries and truncations are pwrite)
    /// and up to three read-only mappings while it is read (log, offset index, time index); index
    /// descriptors are held only as far as the descriptors left over allow, and a segment only read
    /// holds none. Least recently used ones are closed first; an idle partition costs none. When
    /// every open one is in use, a read or write that needs one more fails with KAFKA_STORAGE_ERROR
    /// instead.
    /// </summary>
    /// <remarks>Default 12,288 (so that 10,000 active partitions keep their logs open: at most 12,288
    /// descriptors and 36,864 mappings; Linux allows 65,530 mappings per process by default). Range
    /// 16–1,000,000. At start the bound is lowered (with a warning, event 1106) to fit 1 descriptor
    /// per segment into three quarters of the process's <c>ulimit -n</c> and 3 mappings per segment
    /// into three quarters of <c>vm.max_map_count</c>; if the limit is reached anyway (other
    /// descriptors: connections), idle segments are closed and the open retried once, else that one
    /// request gets KAFKA_STORAGE_ERROR.</remarks>
    public int MaxOpenSegments { get; set; } = DefaultMaxOpenSegments;

    /// <summary>How long a partition that failed a write (for example on a full disk) refuses writes before the next write tries to reopen it.</summary>
    /// <remarks>Default 10 seconds. Reads keep working meanwhile. Range 100 ms – 1 day.</remarks>
    public TimeSpan FailedPartitionRetryInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Bytes kept allocated in the data directory (<c>.reserved-space</c>) and given back, a piece at
    /// a time, when a checkpoint, the topic metadata or the clean-shutdown marker cannot be written
    /// on a full disk, so that a broker on a full disk still starts and stops cleanly. Refilled by
    /// the maintenance task once space returns.
    /// </summary>
    /// <remarks>Default 8 MiB. 0 disables it. Range 0 – 1 GiB.</remarks>
    public long ReservedSpaceBytes { get; set; } = 8L * 1024 * 1024;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            throw new ArgumentException("DataDirectory must be set.", nameof(DataDirectory));
        }

        foreach ((TimeSpan value, string name) in new[]
                 {
                     (RetentionCheckInterval, nameof(RetentionCheckInterval)),
                     (FlushCheckInterval, nameof(FlushCheckInterval)),
                     (CheckpointInterval, nameof(CheckpointInterval)),
                 })
        {
            if (value <= TimeSpan.Zero)
            {
                throw new ArgumentException($"{name} must be positive.", name);
            }
        }

        if (MaxOpenSegments is < 16 or > 1_000_000)
        {
            throw new ArgumentException("MaxOpenSegments must be between 16 and 1000000.", nameof(MaxOpenSegments));
        }

        if (ReservedSpaceBytes is < 0 or > 1L << 30)
        {
            throw new ArgumentException("ReservedSpaceBytes must be between 0 and 1 GiB.", nameof(ReservedSpaceBytes));
        }

        if (FailedPartitionRetryInterval < TimeSpan.FromMilliseconds(100) || FailedPartitionRetryInterval > TimeSpan.FromDays(1))
        {
            throw new ArgumentException("FailedPartitionRetryInterval must be between 100 ms and 1 day.", nameof(FailedPartitionRetryInterval));
        }

        Log.Validate();
    }
}
