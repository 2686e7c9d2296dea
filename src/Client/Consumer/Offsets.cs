namespace LogBroker.Client.Consumer;

/// <summary>Special offsets for <see cref="KafkaConsumer.Assign"/> and <see cref="KafkaConsumer.Seek"/>.</summary>
public static class Offsets
{
    /// <summary>The log start offset.</summary>
    public const long Beginning = -2;

    /// <summary>The log end offset.</summary>
    public const long End = -1;

    /// <summary>The group's committed offset, else <see cref="ConsumerOptions.AutoOffsetReset"/>.</summary>
    public const long Stored = -1000;
}
