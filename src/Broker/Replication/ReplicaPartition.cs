using LogBroker.Storage;

namespace LogBroker.Broker.Replication;

/// <summary>
/// One partition this broker replicates, as the replica manager sees it: the state last applied, the local log,
/// and — while this broker leads it — what each follower has fetched (Kafka's Partition and its replica states).
/// </summary>
/// <remarks>
/// Every field is read and written under <see cref="Sync"/>, except <see cref="State"/> and <see cref="Log"/>, which
/// handlers read without it (a volatile snapshot: a produce or fetch racing a leader change answers with either the
/// old or the new state, as in Kafka).
/// </remarks>
internal sealed class ReplicaPartition(string topic, int partition)
{
    private volatile PartitionState? _state;
    private volatile PartitionLog? _log;

    public string Topic { get; } = topic;

    public int Partition { get; } = partition;

    public Lock Sync { get; } = new();

    /// <summary>The state last applied (or recorded by this leader's own ISR change).</summary>
    public PartitionState? State
    {
        get => _state;
        set => _state = value;
    }

    /// <summary>The local log, once the topic exists here.</summary>
    public PartitionLog? Log
    {
        get => _log;
        set => _log = value;
    }

    /// <summary>Whether this broker leads it (in the state last applied).</summary>
    public bool IsLeader(int localId) => _state is { } s && s.Leader == localId;

    /// <summary>
    /// The leader, leader epoch and membership of the replica set this broker last acted on (-2: none yet): a change
    /// of any means a new role. Membership counts because a reassignment changes the replica set without a new leader
    /// epoch: a broker reassigned away and then back follows again.
    /// </summary>
    public (int Leader, int LeaderEpoch, bool Replica) Acted { get; set; } = (-2, -1, false);

    /// <summary>Leader only: the log end offset when this leader epoch began (a follower joins the ISR only once past it).</summary>
    public long LeaderEpochStartOffset { get; set; }

    /// <summary>Leader only: each follower's replication progress, by broker id.</summary>
    public Dictionary<int, FollowerProgress> Followers { get; } = [];

    /// <summary>Leader only: an ISR change is being written; no other is started meanwhile.</summary>
    public bool IsrChangeInFlight { get; set; }

    /// <summary>
    /// Leader only: the partition epoch whose ISR change the control plane refused; none is retried before a newer
    /// state or the fetch backoff after <see cref="RefusedTimestamp"/>, whichever comes first.
    /// </summary>
    public int RefusedPartitionEpoch { get; set; } = -1;

    /// <summary>Leader only: when the control plane refused the last ISR change (a <see cref="TimeProvider"/> timestamp).</summary>
    public long RefusedTimestamp { get; set; }
}

/// <summary>A follower's progress as its leader sees it (Kafka's ReplicaState).</summary>
internal sealed class FollowerProgress
{
    /// <summary>Its log end offset: the offset of its last fetch; -1 until it fetches in this leader epoch.</summary>
    public long LogEndOffset { get; set; } = -1;

    /// <summary>When it was last known to have every record the leader had (<see cref="TimeProvider.GetTimestamp"/>), 0 never.</summary>
    public long LastCaughtUpTimestamp { get; set; }

    /// <summary>When its previous fetch arrived, and the leader's log end offset then (Kafka's lastFetchTimeMs / lastFetchLeaderLogEndOffset).</summary>
    public long LastFetchTimestamp { get; set; }

    /// <summary>The leader's log end offset when the previous fetch arrived.</summary>
    public long LastFetchLeaderLogEndOffset { get; set; } = -1;

    /// <summary>The broker epoch its last fetch carried (KIP-903), -1 when it sent none.</summary>
    public long BrokerEpoch { get; set; } = -1;
}
