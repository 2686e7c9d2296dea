namespace LogBroker.Client.Consumer;

/// <summary>The partitions an assignment change concerns.</summary>
/// <param name="partitions">The partitions.</param>
public sealed class PartitionsChangedEventArgs(IReadOnlyList<TopicPartition> partitions) : EventArgs
{
    /// <summary>The partitions assigned, revoked or lost.</summary>
    public IReadOnlyList<TopicPartition> Partitions { get; } = partitions;
}
