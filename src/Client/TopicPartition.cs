namespace LogBroker.Client;

/// <summary>A partition of a topic.</summary>
/// <param name="Topic">The topic name.</param>
/// <param name="Partition">The partition index, from 0.</param>
public readonly record struct TopicPartition(string Topic, int Partition)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Topic}-{Partition}";
}

/// <summary>A partition of a topic and an offset in it.</summary>
/// <param name="Topic">The topic name.</param>
/// <param name="Partition">The partition index, from 0.</param>
/// <param name="Offset">The offset.</param>
public readonly record struct TopicPartitionOffset(string Topic, int Partition, long Offset)
{
    /// <summary>The partition alone.</summary>
    public TopicPartition TopicPartition => new(Topic, Partition);

    /// <inheritdoc/>
    public override string ToString() => $"{Topic}-{Partition}@{Offset}";
}
