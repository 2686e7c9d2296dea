namespace LogBroker.Broker.Replication;

// The seam between the control plane (src/Broker/Cluster: the controller store, the controller, the
// partition states it records) and the data plane (src/Broker/Replication: leaders, followers, the high
// watermark, the ISR). The control plane decides who leads which partition and records it; the data plane
// acts on what it is told and asks the control plane to change an ISR. Single-node mode uses neither.

/// <summary>
/// A partition's state as the controller records it (Kafka's LeaderAndIsr): the leader and its epoch, the
/// assigned replicas, the in-sync replicas, and the partition epoch that every compare-and-set of this
/// state is conditioned on.
/// </summary>
/// <param name="Topic">The topic name.</param>
/// <param name="Partition">The partition index.</param>
/// <param name="Leader">The leader's broker id, or -1 when the partition has none (offline).</param>
/// <param name="LeaderEpoch">Bumped on every leader change; stamped into the batches the leader appends.</param>
/// <param name="Replicas">The assigned replicas, preferred leader first.</param>
/// <param name="Isr">The in-sync replicas, the leader included.</param>
/// <param name="PartitionEpoch">Bumped on every change of this state (leader or ISR).</param>
public sealed record PartitionState(
    string Topic,
    int Partition,
    int Leader,
    int LeaderEpoch,
    IReadOnlyList<int> Replicas,
    IReadOnlyList<int> Isr,
    int PartitionEpoch)
{
    /// <summary>
    /// Replicas an ongoing reassignment is adding (KIP-455): already in <see cref="Replicas"/>, catching up; the
    /// controller finishes the reassignment when all of them are in the ISR. Empty when none is in progress.
    /// </summary>
    public IReadOnlyList<int> AddingReplicas { get; init; } = [];

    /// <summary>Replicas an ongoing reassignment will drop from <see cref="Replicas"/> when it finishes; empty when none.</summary>
    public IReadOnlyList<int> RemovingReplicas { get; init; } = [];
}

/// <summary>One listener of a registered broker: its name, where clients reach it, and its security protocol.</summary>
/// <param name="Name">The listener's name (e.g. "INTERNAL").</param>
/// <param name="Host">The advertised host.</param>
/// <param name="Port">The advertised port.</param>
/// <param name="SecurityProtocol">PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.</param>
public sealed record BrokerEndpoint(string Name, string Host, int Port, string SecurityProtocol);

/// <summary>Where another broker of the cluster listens for replica fetches.</summary>
public interface IBrokerDirectory
{
    /// <summary>The broker's inter-broker endpoint, or false when it is not registered (gone) or has no such listener.</summary>
    bool TryGetEndpoint(int brokerId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out BrokerEndpoint? endpoint);

    /// <summary>
    /// The broker's current broker epoch (its registration's create revision), or -1 when it is not registered.
    /// A replica fetch carrying another epoch comes from a previous incarnation and must not bring it into the
    /// ISR (KIP-903).
    /// </summary>
    long BrokerEpochOf(int brokerId) => -1;

    /// <summary>
    /// Whether this broker may act as leader now: its registration is certainly still alive in the controller store
    /// (the last keepalive it sent was answered, and less than the lease's TTL less a margin has passed since it was
    /// sent) and the partition states of the current session have been read. A broker cut off from the store stops
    /// taking writes before the store can expire its lease and the controller elect another leader, so two leaders never
    /// take writes at once. True outside cluster mode.
    /// </summary>
    bool MayLead => true;

    /// <summary>
    /// Completes when <see cref="MayLead"/> may have turned false (the lease lapsed or the session ended): a write
    /// waiting for its ISR at this leader is then answered NOT_LEADER_OR_FOLLOWER at once rather than at its timeout.
    /// Take it before reading <see cref="MayLead"/>, so a lapse between the two is not missed. Never, outside cluster mode.
    /// </summary>
    Task WhenMayNotLead => Never.Task;

    private static class Never
    {
        public static readonly Task Task = new TaskCompletionSource().Task;
    }
}

/// <summary>
/// Implemented by the control plane: the only way the data plane changes an ISR (the leader shrinks it when
/// a follower falls behind <c>replica.lag.time.max.ms</c>, and expands it when one catches up).
/// </summary>
public interface IIsrChangeSink
{
    /// <summary>
    /// Asks to set <paramref name="current"/>'s ISR to <paramref name="newIsr"/>, conditioned on
    /// <paramref name="current"/>'s leader epoch and partition epoch. Returns the new state when recorded,
    /// or null when refused (stale epoch, this broker no longer leads, or a joiner is not registered); then the
    /// caller waits for the state the control plane hands it next, or asks again after the fetch backoff.
    /// </summary>
    Task<PartitionState?> AlterIsrAsync(PartitionState current, IReadOnlyList<int> newIsr, CancellationToken cancellationToken);
}

/// <summary>
/// Implemented by the data plane: the control plane hands every state change of a partition this broker
/// replicates to <see cref="Apply"/>, in partition-epoch order, and removes partitions it no longer hosts.
/// </summary>
/// <remarks>
/// Guarantees of the control plane (Cluster/TopicMaterializer): a state reaches <see cref="Apply"/> only once
/// its topic exists in the local TopicRegistry with that partition (same topic id as the store's record), so
/// <c>TopicRegistry.Partition(topic, p)</c> is the log to lead or follow; when a topic is deleted (or replaced
/// by a new incarnation of its name) <see cref="Remove"/> is called for each applied partition before its
/// local log is deleted. Calls come from one thread at a time. <c>__consumer_offsets</c> is applied like any
/// topic; its logs are the registry's internal topic (<c>TopicRegistry.ReadablePartition</c>).
/// </remarks>
public interface IReplicaManager
{
    /// <summary>
    /// Makes this broker the leader of the partition (when <see cref="PartitionState.Leader"/> is this node:
    /// stamp the new epoch, track followers, serve produce and fetch) or a follower (truncate with
    /// OffsetForLeaderEpoch, then fetch from the leader), or neither (leader -1: stop serving it).
    /// A state older than the one applied (lower partition epoch) is ignored.
    /// </summary>
    void Apply(PartitionState state);

    /// <summary>Stops replicating the partition (deleted, or reassigned away). Its log is the caller's to delete.</summary>
    void Remove(string topic, int partition);
}

/// <summary>
/// Told when this broker takes a new role for a partition it replicates (a new leader or leader epoch in the state
/// applied): the group coordinator loads the committed offsets of a <c>__consumer_offsets</c> partition it now leads,
/// and drops them when it stops leading it. Called under the partition's lock: hand the work off, never block.
/// </summary>
internal interface IReplicaRoleListener
{
    /// <param name="partition">The partition.</param>
    /// <param name="state">The state applied.</param>
    /// <param name="leads">Whether this broker leads it in <paramref name="state"/>.</param>
    void RoleChanged(ReplicaPartition partition, PartitionState state, bool leads);
}
