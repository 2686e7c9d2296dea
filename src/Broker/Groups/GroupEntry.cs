using LogBroker.Protocol;

namespace LogBroker.Broker.Groups;

/// <summary>
/// What a group id's owning protocol (classic <see cref="ClassicGroup"/> or server-side
/// <see cref="ConsumerGroup"/>) tells the <see cref="OffsetManager"/>. Called under the entry's lock.
/// </summary>
internal interface IGroupProtocol
{
    /// <summary>Whether the group has (or is admitting) members: then the id belongs to this protocol, its offsets do not expire and it cannot be deleted.</summary>
    bool HasMembers { get; }

    /// <summary>ListGroups: state, protocol type and group type ("classic" or "consumer").</summary>
    (string State, string ProtocolType, string Type) Listing { get; }

    /// <summary>Whether a commit by <paramref name="memberId"/> at <paramref name="generation"/> (or member epoch) is accepted now.</summary>
    ErrorCode CheckCommit(string memberId, string? instanceId, int generation, long now);

    /// <summary>Adds the topics the members subscribe to (their offsets cannot be deleted).</summary>
    void AddSubscribedTopics(HashSet<string> topics);

    /// <summary>This broker no longer coordinates the group (cluster mode): requests waiting here are answered NOT_COORDINATOR.</summary>
    void Unload()
    {
    }
}

/// <summary>
/// One group id: its lock, its committed offsets, and the protocol that owns it at the moment (none,
/// classic or server-side; never both). Held by the <see cref="OffsetManager"/>; the coordinators hang
/// their state on <see cref="Owner"/> and do all their work under <see cref="Sync"/>.
/// </summary>
internal sealed class GroupEntry(string id)
{
    public string Id { get; } = id;

    public Lock Sync { get; } = new();

    /// <summary>Set (under the lock) once the entry left the directory: a holder of a stale reference looks again.</summary>
    public bool Removed { get; set; }

    /// <summary>The protocol that owns the id, or null for an id that only has committed offsets.</summary>
    public IGroupProtocol? Owner { get; set; }

    /// <summary>The committed offsets OffsetFetch answers with: in cluster mode only those the offsets partition's ISR has.</summary>
    public Dictionary<(string Topic, int Partition), CommittedOffset> Offsets { get; } = [];

    /// <summary>
    /// Cluster mode: commits appended but not replicated yet, by partition, each as its latest append's position in the
    /// offsets partition (Kafka's pending offset commits). They keep the entry in the directory until they end.
    /// </summary>
    public Dictionary<(string Topic, int Partition), long> Pending { get; } = [];

    /// <summary>
    /// Cluster mode: per partition, the position of the last change applied to <see cref="Offsets"/> (a replicated commit,
    /// or a deletion), so that a commit replicated late never overwrites a later change.
    /// </summary>
    public Dictionary<(string Topic, int Partition), long> AppliedAt { get; } = [];

    /// <summary>When the group last had no members (for offset expiry), as a timestamp.</summary>
    public long EmptySince { get; set; }

    /// <summary>Before this timestamp offset expiry is not retried (after a failed attempt).</summary>
    public long ExpiryRetryAt { get; set; }

    /// <summary>Whether some member of either protocol holds the id.</summary>
    public bool InUse => Owner is { HasMembers: true };
}
