namespace LogBroker.Client.Consumer;

/// <summary>
/// A consumer (implemented by <see cref="KafkaConsumer"/>); depend on this to fake the consumer in tests.
/// </summary>
public interface IKafkaConsumer : IAsyncDisposable
{
    /// <summary>Raised after partitions were assigned to this consumer.</summary>
    event EventHandler<PartitionsChangedEventArgs>? PartitionsAssigned;

    /// <summary>Raised before partitions are given up in a rebalance.</summary>
    event EventHandler<PartitionsChangedEventArgs>? PartitionsRevoked;

    /// <summary>Raised when partitions were lost without an orderly revocation.</summary>
    event EventHandler<PartitionsChangedEventArgs>? PartitionsLost;

    /// <summary>The consumer's settings.</summary>
    ConsumerOptions Options { get; }

    /// <summary>The partitions currently assigned.</summary>
    IReadOnlyList<TopicPartition> Assignment { get; }

    /// <summary>The member id in the group (empty before joining or without a group).</summary>
    string MemberId { get; }

    /// <summary>Subscribes to topics through the group.</summary>
    /// <param name="topics">The topics.</param>
    void Subscribe(IEnumerable<string> topics);

    /// <summary>Assigns partitions manually (no group membership).</summary>
    /// <param name="partitions">The partitions and where to start (an offset or an <see cref="Offsets"/> value).</param>
    void Assign(IEnumerable<TopicPartitionOffset> partitions);

    /// <summary>Removes a manual assignment.</summary>
    void Unassign();

    /// <summary>The next offset to consume from <paramref name="partition"/>, or null when not known.</summary>
    /// <param name="partition">An assigned partition.</param>
    long? Position(TopicPartition partition);

    /// <summary>Moves the position of an assigned partition.</summary>
    /// <param name="target">The partition and its new position.</param>
    void Seek(TopicPartitionOffset target);

    /// <summary>Moves each partition to the first record at or after <paramref name="time"/>.</summary>
    /// <param name="partitions">Assigned partitions.</param>
    /// <param name="time">The time.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    Task SeekToTimestampAsync(IEnumerable<TopicPartition> partitions, DateTimeOffset time, CancellationToken cancellationToken = default);

    /// <summary>Stops fetching the partitions until <see cref="Resume"/>.</summary>
    /// <param name="partitions">Assigned partitions.</param>
    void Pause(IEnumerable<TopicPartition> partitions);

    /// <summary>Resumes fetching paused partitions.</summary>
    /// <param name="partitions">Paused partitions.</param>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1716", Justification = "Kafka's name (Confluent.Kafka's IConsumer has Resume too).")]
    void Resume(IEnumerable<TopicPartition> partitions);

    /// <summary>Batches of records as they arrive; a batch stays valid until the next one is requested.</summary>
    /// <param name="cancellationToken">Ends the enumeration.</param>
    IAsyncEnumerable<ConsumeBatch> ConsumeBatchesAsync(CancellationToken cancellationToken = default);

    /// <summary>Records one at a time.</summary>
    /// <param name="cancellationToken">Ends the enumeration.</param>
    IAsyncEnumerable<ConsumeRecord> ConsumeAsync(CancellationToken cancellationToken = default);

    /// <summary>The next batch, waiting until one arrives; null once the consumer is disposed.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    ValueTask<ConsumeBatch?> NextBatchAsync(CancellationToken cancellationToken = default);

    /// <summary>Commits the position of every assigned partition.</summary>
    /// <param name="cancellationToken">Cancels the commit.</param>
    Task CommitAsync(CancellationToken cancellationToken = default);

    /// <summary>Commits offsets (each the next offset to read) for the group.</summary>
    /// <param name="offsets">The offsets.</param>
    /// <param name="cancellationToken">Cancels the commit.</param>
    Task CommitOffsetsAsync(IEnumerable<TopicPartitionOffset> offsets, CancellationToken cancellationToken = default);

    /// <summary>The group's committed offsets of <paramref name="partitions"/> (-1 where nothing is committed).</summary>
    /// <param name="partitions">The partitions.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    Task<IReadOnlyList<TopicPartitionOffset>> CommittedAsync(IEnumerable<TopicPartition> partitions, CancellationToken cancellationToken = default);
}
