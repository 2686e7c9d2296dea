namespace LogBroker.Storage;

/// <summary>
/// Settings of one partition log, named after Kafka's topic configs. Immutable; a partition's
/// config is replaced as a whole (<see cref="PartitionLog.UpdateConfig"/>).
/// </summary>
public sealed record LogConfig
{
    /// <summary>The defaults a new partition gets when nothing else is configured.</summary>
    public static LogConfig Default { get; } = new();

    /// <summary><c>segment.bytes</c>: the active segment rolls before it would grow past this.</summary>
    /// <remarks>Default 1 GiB. At most 2 GiB − 1 (positions are 32-bit); at least 1 KiB. A batch larger
    /// than this still gets a segment of its own, sized to fit it.</remarks>
    public int SegmentBytes { get; init; } = 1024 * 1024 * 1024;

    /// <summary><c>segment.ms</c>: a non-empty active segment older than this rolls on the next append.</summary>
    /// <remarks>Default 7 days.</remarks>
    public TimeSpan SegmentAge { get; init; } = TimeSpan.FromDays(7);

    /// <summary><c>index.interval.bytes</c>: log bytes between two offset-index entries.</summary>
    /// <remarks>Default 4096. Smaller means faster lookups and larger indexes.</remarks>
    public int IndexIntervalBytes { get; init; } = 4096;

    /// <summary><c>segment.index.bytes</c>: size each index is preallocated to; a full index rolls the segment.</summary>
    /// <remarks>Default 10 MiB (1,310,720 offset entries).</remarks>
    public int SegmentIndexBytes { get; init; } = 10 * 1024 * 1024;

    /// <summary><c>retention.ms</c>: sealed segments whose newest record is older than this are deleted.</summary>
    /// <remarks>Default 7 days. Null keeps data for ever.</remarks>
    public TimeSpan? RetentionTime { get; init; } = TimeSpan.FromDays(7);

    /// <summary><c>retention.bytes</c>: oldest segments are deleted while the partition is larger than this.</summary>
    /// <remarks>Default null: no size limit.</remarks>
    public long? RetentionBytes { get; init; }

    /// <summary><c>flush.messages</c>: fsync after this many records have been appended since the last flush.</summary>
    /// <remarks>
    /// Default null: never forced by count. With 1, every <see cref="PartitionLog.Append"/> returns only
    /// after its batch is on disk (fsync), so it survives power loss; larger values bound the records a
    /// power loss can take to fewer than this many. Process crashes lose nothing acknowledged whatever
    /// the value: appended bytes are already in the kernel's page cache (see <see cref="PartitionLog"/>).
    /// </remarks>
    public long? FlushMessages { get; init; }

    /// <summary><c>flush.ms</c>: fsync unflushed data at least this often (checked by the maintenance task).</summary>
    /// <remarks>
    /// Default null: never forced by time; the operating system writes dirty pages back on its own
    /// schedule (on Linux typically within 30 s). A power loss can take what was appended within the
    /// last interval plus the maintenance task's check period.
    /// </remarks>
    public TimeSpan? FlushInterval { get; init; }

    /// <summary><c>max.message.bytes</c>: the largest record batch the log accepts.</summary>
    /// <remarks>Default 1,048,588 (1 MiB + 12), as Kafka's.</remarks>
    public int MaxMessageBytes { get; init; } = 1024 * 1024 + 12;

    /// <summary><c>message.timestamp.before.max.ms</c>: a CreateTime record whose timestamp is further than
    /// this before the broker's clock is refused (INVALID_TIMESTAMP).</summary>
    /// <remarks>Default null: no limit (Kafka's default, Long.MaxValue). Not negative.</remarks>
    public TimeSpan? MessageTimestampBeforeMax { get; init; }

    /// <summary><c>message.timestamp.after.max.ms</c>: a CreateTime record whose timestamp is further than
    /// this after the broker's clock is refused (INVALID_TIMESTAMP), so that one far-future batch cannot
    /// hold back time-based retention.</summary>
    /// <remarks>Default 1 hour (3,600,000 ms), Kafka 4.0's default (KIP-1030). Null: no limit. Not negative.</remarks>
    public TimeSpan? MessageTimestampAfterMax { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        Check(SegmentBytes >= 1024, nameof(SegmentBytes), "must be at least 1024");
        Check(SegmentAge > TimeSpan.Zero, nameof(SegmentAge), "must be positive");
        Check(IndexIntervalBytes >= 0, nameof(IndexIntervalBytes), "must not be negative");
        Check(SegmentIndexBytes >= 12, nameof(SegmentIndexBytes), "must be at least 12");
        Check(RetentionTime is null || RetentionTime > TimeSpan.Zero, nameof(RetentionTime), "must be positive or null");
        Check(RetentionBytes is null or >= 0, nameof(RetentionBytes), "must not be negative");
        Check(FlushMessages is null or > 0, nameof(FlushMessages), "must be positive or null");
        Check(FlushInterval is null || FlushInterval > TimeSpan.Zero, nameof(FlushInterval), "must be positive or null");
        Check(MaxMessageBytes >= 61, nameof(MaxMessageBytes), "must be at least 61 (one batch header)");
        Check(MessageTimestampBeforeMax is null || MessageTimestampBeforeMax >= TimeSpan.Zero, nameof(MessageTimestampBeforeMax), "must not be negative");
        Check(MessageTimestampAfterMax is null || MessageTimestampAfterMax >= TimeSpan.Zero, nameof(MessageTimestampAfterMax), "must not be negative");
    }

    private static void Check(bool ok, string name, string message)
    {
        if (!ok)
        {
            throw new ArgumentException($"{name} {message}.", name);
        }
    }
}
