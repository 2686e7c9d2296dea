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

        Log.Validate();
    }
}
