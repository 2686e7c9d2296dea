namespace LogBroker.Client.Consumer;

/// <summary>
/// What a <see cref="GroupMembership"/> needs from its consumer: the subscription, the partitions owned,
/// and the three changes it makes to them (revoke, add, stop with a fatal error).
/// </summary>
internal interface IAssignmentHost
{
    /// <summary>The subscribed topics, sorted.</summary>
    IReadOnlyList<string> Subscription { get; }

    /// <summary>The partitions currently assigned.</summary>
    List<TopicPartition> OwnedPartitions();

    /// <summary>Commits (when auto-committing and not <paramref name="lost"/>), tells the application, then takes the partitions away.</summary>
    Task RevokeAsync(IReadOnlyList<TopicPartition> partitions, bool lost);

    /// <summary>Adds partitions (their positions come from committed offsets) and tells the application.</summary>
    void AddAssigned(IReadOnlyList<TopicPartition> partitions);

    /// <summary>The membership cannot go on: the consumer stops with <paramref name="error"/>.</summary>
    void Fatal(KafkaException error);
}
