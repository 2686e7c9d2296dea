namespace LogBroker.Broker.Groups;

/// <summary>
/// Where an append to the offset store ended: the offset the store must be durable (or replicated) up to,
/// and, in cluster mode, the <c>__consumer_offsets</c> partition and the leader epoch it was appended in.
/// </summary>
internal readonly record struct OffsetPosition(long Offset, int Partition = 0, int LeaderEpoch = -1);

/// <summary>Where committed offsets are made durable (and read back at start).</summary>
internal interface IOffsetStore
{
    /// <summary>
    /// Records commits (or, with a null offset, deletions) before they are acknowledged; returns the
    /// position to pass to <see cref="WhenDurableAsync"/>. Throws (an <see cref="IOException"/>, with
    /// nothing stored; an <see cref="OffsetStoreException"/> carries the Kafka error to answer) when it cannot.
    /// </summary>
    OffsetPosition Append(string group, IReadOnlyList<(string Topic, int Partition, CommittedOffset? Offset)> changes);

    /// <summary>
    /// Completes once everything appended before <paramref name="position"/> is on stable storage (or, replicated,
    /// in the ISR); faults with an <see cref="IOException"/> (an <see cref="OffsetStoreException"/> with the
    /// error to answer) when that cannot be known.
    /// </summary>
    Task WhenDurableAsync(OffsetPosition position);

    /// <summary>
    /// Whether a commit is acknowledged only after <see cref="WhenDurableAsync"/>, whatever
    /// <c>Broker:FlushOnAcksAll</c> says (cluster mode: a commit is acknowledged once its ISR has it).
    /// </summary>
    bool Replicated => false;

    /// <summary>Every group's committed offsets as last stored.</summary>
    IEnumerable<(string Group, string Topic, int Partition, CommittedOffset Offset)> Load();

    /// <summary>The classic groups' states as last recorded by <see cref="AppendGroup"/>, read by <see cref="Load"/> (none by default).</summary>
    IEnumerable<(string Group, GroupMetadataRecord State)> LoadedGroups() => [];

    /// <summary>Records a classic group's state, or with null that the group is gone (not waited for; read back by <see cref="LoadedGroups"/>).</summary>
    void AppendGroup(string group, GroupMetadataRecord? state, long timestampMs)
    {
    }
}

