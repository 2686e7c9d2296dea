using System.Collections.Concurrent;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Producers;
using LogBroker.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Replication;

/// <summary>
/// The replication data plane of one broker (Kafka's ReplicaManager and Partition): acts on every partition state
/// the control plane applies. As leader it stamps the leader epoch, tracks each follower's fetches, advances the high
/// watermark to the smallest log end offset of the ISR, and shrinks or expands the ISR through the
/// <see cref="IIsrChangeSink"/>; as follower it hands the partition to the <see cref="ReplicaFetcher"/> of its leader.
/// Produce, Fetch and OffsetForLeaderEpoch ask it who leads (<see cref="Find"/>); a partition it was never told
/// about is served as on a single node.
/// </summary>
/// <remarks>
/// Locks: <see cref="ReplicaPartition.Sync"/> per partition, never two at once; taken before the producer-state lock
/// by the fetcher (follower) and never inside a partition's append lock.
/// </remarks>
internal sealed partial class ReplicaManager(
    TopicRegistry topics, ProducerStates producers, ClusterInfo cluster, IIsrChangeSink isrSink, IServiceProvider services,
    ReplicationOptions options, TimeProvider time, ILogger<ReplicaManager> logger) : BackgroundService, IReplicaManager
{
    private readonly ConcurrentDictionary<(string, int), ReplicaPartition> _partitions = new();
    private readonly ConcurrentDictionary<int, ReplicaFetcher> _fetchers = new();
    private readonly CancellationTokenSource _stopping = new();

    private IBrokerDirectory? _directory;

    // Completed (and replaced) whenever this broker takes a new role for some partition: wakes the writes waiting for
    // their ISR, which then see whether they are still led here.
    private TaskCompletionSource _rolesChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IReplicaRoleListener[]? _listeners;

    private int LocalId => cluster.NodeId;

    // Resolved on first use: the directory is the cluster service, which itself takes this replica manager.
    private IBrokerDirectory BrokerDirectory => _directory ??= services.GetRequiredService<IBrokerDirectory>();

    // Resolved on first use too: the offset store listens, and itself takes this replica manager.
    private IReplicaRoleListener[] Listeners => _listeners ??= [.. services.GetServices<IReplicaRoleListener>()];

    /// <summary>The partition's replication state, or null when the control plane never handed it to this broker.</summary>
    public ReplicaPartition? Find(string topic, int partition) =>
        _partitions.IsEmpty ? null : _partitions.GetValueOrDefault((topic, partition));

    /// <inheritdoc/>
    public void Apply(PartitionState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        ReplicaPartition p = _partitions.GetOrAdd((state.Topic, state.Partition), static k => new ReplicaPartition(k.Item1, k.Item2));
        lock (p.Sync)
        {
            if (p.State is { } old && old.PartitionEpoch >= state.PartitionEpoch)
            {
                return; // older, or our own ISR change coming back through the watch
            }

            p.State = state;
            Act(p);
        }
    }

    /// <inheritdoc/>
    public void Remove(string topic, int partition)
    {
        if (_partitions.TryRemove((topic, partition), out ReplicaPartition? p))
        {
            lock (p.Sync)
            {
                StopFetching(p);
                p.Followers.Clear();
            }
        }
    }

    /// <summary>
    /// Why a produce to the partition is refused here, or <see cref="ErrorCode.None"/> with the leader epoch it is
    /// accepted in (for <see cref="Leads"/> when it is acknowledged). A leader whose lease may have expired
    /// (<see cref="IBrokerDirectory.MayLead"/>) refuses with NOT_LEADER_OR_FOLLOWER: another may be elected by now.
    /// </summary>
    public ErrorCode CheckProduce(ReplicaPartition p, short acks, out int leaderEpoch)
    {
        leaderEpoch = -1;
        if (p.State is not { } state || state.Leader != LocalId || p.Log is null || !BrokerDirectory.MayLead)
        {
            return ErrorCode.NotLeaderOrFollower;
        }

        leaderEpoch = state.LeaderEpoch;
        return acks == -1 && state.Isr.Count < MinInsync(p.Topic) ? ErrorCode.NotEnoughReplicas : ErrorCode.None; // read now: an AlterConfigs applies at once
    }

    /// <summary>
    /// Why a fetch or OffsetForLeaderEpoch is refused here, or <see cref="ErrorCode.None"/>: the caller's current leader
    /// epoch is checked first (older: FENCED_LEADER_EPOCH; newer: UNKNOWN_LEADER_EPOCH; -1: no check), then leadership.
    /// </summary>
    public ErrorCode CheckLeader(ReplicaPartition p, int currentLeaderEpoch)
    {
        if (p.State is not { } state || p.Log is null)
        {
            return ErrorCode.NotLeaderOrFollower;
        }

        if (currentLeaderEpoch >= 0 && currentLeaderEpoch != state.LeaderEpoch)
        {
            return currentLeaderEpoch < state.LeaderEpoch ? ErrorCode.FencedLeaderEpoch : ErrorCode.UnknownLeaderEpoch;
        }

        return state.Leader == LocalId ? ErrorCode.None : ErrorCode.NotLeaderOrFollower;
    }

    /// <summary>
    /// Whether this broker still leads the partition in <paramref name="leaderEpoch"/>: a write appended in that epoch
    /// whose offset the high watermark has passed is then replicated to the ISR. A broker deposed since takes its new
    /// leader's high watermark after truncating, so the high watermark alone proves nothing about its own writes.
    /// </summary>
    public bool Leads(ReplicaPartition p, int leaderEpoch) => p.State is { } state && state.Leader == LocalId && state.LeaderEpoch == leaderEpoch;

    /// <summary>
    /// What a write appended as leader in <paramref name="leaderEpoch"/>, ending at <paramref name="lastOffset"/>, comes
    /// to now: <see cref="ErrorCode.None"/> once the high watermark has passed it while this broker still leads in that
    /// epoch, <see cref="ErrorCode.RequestTimedOut"/> while it has not, <see cref="ErrorCode.NotLeaderOrFollower"/> when
    /// the broker was deposed meanwhile.
    /// </summary>
    public ErrorCode Replicated(ReplicaPartition p, Storage.PartitionLog log, long lastOffset, int leaderEpoch) =>
        log.HighWatermark <= lastOffset ? ErrorCode.RequestTimedOut
        : !Leads(p, leaderEpoch) ? ErrorCode.NotLeaderOrFollower
        : ErrorCode.None;

    /// <summary>
    /// Waits until the write is replicated (see <see cref="Replicated"/>) or <paramref name="timeout"/> fires, and
    /// answers what it came to (never faults). The partition's signal fires on every append and high-watermark move, so
    /// it is waited for again until the high watermark is there. A leader deposed meanwhile, or one whose lease may
    /// have lapsed (<see cref="IBrokerDirectory.MayLead"/>), answers NOT_LEADER_OR_FOLLOWER as soon as it knows, as
    /// Kafka completes its delayed produces on a leadership change: the client retries at the new leader.
    /// </summary>
    public async Task<ErrorCode> WaitReplicatedAsync(ReplicaPartition p, Storage.PartitionLog log, long lastOffset, int leaderEpoch, CancellationToken timeout)
    {
        try
        {
            while (log.HighWatermark <= lastOffset)
            {
                Task roles = Volatile.Read(ref _rolesChanged).Task, lapse = BrokerDirectory.WhenMayNotLead;
                if (!Leads(p, leaderEpoch) || !BrokerDirectory.MayLead)
                {
                    ErrorCode now = Replicated(p, log, lastOffset, leaderEpoch);
                    return now == ErrorCode.RequestTimedOut ? ErrorCode.NotLeaderOrFollower : now;
                }

                await Task.WhenAny(log.WhenHighWatermarkAfter(lastOffset), roles, lapse).WaitAsync(timeout).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            // timed out: answered from the high watermark below
        }

        return Replicated(p, log, lastOffset, leaderEpoch);
    }

    /// <summary>After an append as leader: with an ISR of the leader alone the high watermark moves at once.</summary>
    public void OnLeaderAppend(ReplicaPartition p)
    {
        lock (p.Sync)
        {
            AdvanceHighWatermark(p);
        }
    }

    /// <summary>
    /// A follower fetched from <paramref name="fetchOffset"/>: that is its log end offset. Updates its caught-up time
    /// as Kafka does (caught up if it asked for the leader's end now, or for at least the end the leader had at its
    /// previous fetch), then expands the ISR or advances the high watermark when that allows.
    /// </summary>
    public void OnFollowerFetch(ReplicaPartition p, int replicaId, long brokerEpoch, long fetchOffset)
    {
        lock (p.Sync)
        {
            if (p.State is not { } state || state.Leader != LocalId || p.Log is not { } log ||
                !p.Followers.TryGetValue(replicaId, out FollowerProgress? follower))
            {
                return; // not a replica of ours: served, not tracked
            }

            long now = time.GetTimestamp();
            long leaderEnd = log.LogEndOffset;
            if (fetchOffset > leaderEnd)
            {
                return; // ahead of the leader: it diverged and must truncate first
            }

            if (fetchOffset >= leaderEnd)
            {
                follower.LastCaughtUpTimestamp = now;
            }
            else if (fetchOffset >= follower.LastFetchLeaderLogEndOffset && follower.LastFetchTimestamp > follower.LastCaughtUpTimestamp)
            {
                follower.LastCaughtUpTimestamp = follower.LastFetchTimestamp;
            }

            follower.LastFetchLeaderLogEndOffset = leaderEnd;
            follower.LastFetchTimestamp = now;
            follower.LogEndOffset = fetchOffset;
            follower.BrokerEpoch = brokerEpoch;
            MaybeExpandIsr(p, state, log, replicaId, follower);
            AdvanceHighWatermark(p);
        }
    }

    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Kafka checks for lagging followers every half lag time; a partition whose topic was not here yet when its
        // state arrived is taken up at the next tick.
        TimeSpan tick = options.ReplicaLagTimeMax / 2 < TimeSpan.FromMilliseconds(250) ? options.ReplicaLagTimeMax / 2 : TimeSpan.FromMilliseconds(250);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(tick, time, stoppingToken).ConfigureAwait(false);
                foreach (ReplicaPartition p in _partitions.Values)
                {
                    lock (p.Sync)
                    {
                        if (p.Log is null && p.State is not null)
                        {
                            Act(p);
                        }
                        else
                        {
                            MaybeShrinkIsr(p);
                        }
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <inheritdoc/>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (ReplicaFetcher fetcher in _fetchers.Values)
        {
            await fetcher.DisposeAsync().ConfigureAwait(false);
        }

        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Caller: p.Sync. Takes the role the applied state gives this broker.</summary>
    private void Act(ReplicaPartition p)
    {
        PartitionState state = p.State!;
        if (p.Log is null)
        {
            if (topics.ReadablePartition(p.Topic, p.Partition) is not { } found) // __consumer_offsets too
            {
                return; // the topic is not materialised here yet: the next tick tries again
            }

            found.UseSeparateHighWatermark();
            p.Log = found;
        }

        Storage.PartitionLog log = p.Log;
        bool isReplica = state.Replicas.Contains(LocalId);
        bool newRole = p.Acted != (state.Leader, state.LeaderEpoch, isReplica);
        p.Acted = (state.Leader, state.LeaderEpoch, isReplica);
        if (newRole)
        {
            Interlocked.Exchange(ref _rolesChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            foreach (IReplicaRoleListener listener in Listeners)
            {
                listener.RoleChanged(p, state, state.Leader == LocalId && isReplica);
            }
        }

        if (!isReplica)
        {
            // Reassigned away (Kafka's StopReplica with deletion): neither leader nor follower any more, so produce and
            // fetch here are refused with NOT_LEADER_OR_FOLLOWER (the state says another leader), nothing is fetched,
            // and the data goes. The partition's directory stays, empty: the local topic has every partition. Should
            // it be reassigned back, it fetches from the leader's log start as a new replica does.
            StopFetching(p);
            p.Followers.Clear();
            if (newRole)
            {
                NoLongerReplica(logger, p.Topic, p.Partition, state.Leader, state.LeaderEpoch);
            }

            if (log.LogEndOffset != 0 || log.LogStartOffset != 0)
            {
                long before = log.LogEndOffset;
                try
                {
                    log.TruncateTo(0);
                    producers.Forget(log);
                    ReplicaDataDeleted(logger, p.Topic, p.Partition, before);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
                {
                    ReplicaDataNotDeleted(logger, p.Topic, p.Partition, e);
                }
            }

            return;
        }

        if (state.Leader == LocalId)
        {
            if (newRole)
            {
                StopFetching(p);
                log.BeginLeaderEpoch(state.LeaderEpoch);
                p.LeaderEpochStartOffset = log.LogEndOffset;
                p.Followers.Clear();
                long now = time.GetTimestamp();
                foreach (int replica in state.Replicas)
                {
                    if (replica != LocalId)
                    {
                        // In-sync followers get a full lag time from now to show they keep up (Kafka resets them too).
                        p.Followers[replica] = new FollowerProgress { LastCaughtUpTimestamp = state.Isr.Contains(replica) ? now : 0 };
                    }
                }

                BecameLeader(logger, p.Topic, p.Partition, state.LeaderEpoch, log.LogEndOffset, log.HighWatermark);
            }
            else
            {
                TrackReplicaSet(p, state);
            }

            p.RefusedPartitionEpoch = -1;
            AdvanceHighWatermark(p);
            return;
        }

        p.Followers.Clear();
        if (state.Leader < 0)
        {
            StopFetching(p);
            return;
        }

        if (newRole)
        {
            StopFetching(p);
            ReplicaFetcher fetcher = _fetchers.GetOrAdd(state.Leader, id => new ReplicaFetcher(id, producers, cluster.NodeId, BrokerDirectory, options, time, logger, _stopping.Token));
            fetcher.Add(p, state.LeaderEpoch);
            BecameFollower(logger, p.Topic, p.Partition, state.Leader, state.LeaderEpoch);
        }
    }

    /// <summary>
    /// Caller: p.Sync, as leader in the same epoch. A reassignment changes the replica set without a new leader epoch:
    /// a replica being added is tracked from now on (outside the ISR until it catches up), one gone is forgotten.
    /// </summary>
    private void TrackReplicaSet(ReplicaPartition p, PartitionState state)
    {
        foreach (int replica in state.Replicas)
        {
            if (replica != LocalId && !p.Followers.ContainsKey(replica))
            {
                p.Followers[replica] = new FollowerProgress { LastCaughtUpTimestamp = state.Isr.Contains(replica) ? time.GetTimestamp() : 0 };
            }
        }

        foreach (int replica in p.Followers.Keys)
        {
            if (!state.Replicas.Contains(replica))
            {
                p.Followers.Remove(replica); // a Dictionary may lose entries while it is enumerated
            }
        }
    }

    private void StopFetching(ReplicaPartition p)
    {
        foreach (ReplicaFetcher fetcher in _fetchers.Values)
        {
            fetcher.Remove(p);
        }
    }

    private int MinInsync(string topic) =>
        topics.Get(topic)?.Overrides.GetValueOrDefault(TopicConfigs.MinInsyncReplicas) is { } value && int.TryParse(value, out int min) && min >= 1 ? min : 1;

    /// <summary>Caller: p.Sync. The high watermark becomes the smallest log end offset over the ISR (the leader's included).</summary>
    private void AdvanceHighWatermark(ReplicaPartition p)
    {
        if (p.State is not { } state || state.Leader != LocalId || p.Log is not { } log)
        {
            return;
        }

        long hw = log.LogEndOffset;
        foreach (int replica in state.Isr)
        {
            if (replica != LocalId)
            {
                long end = p.Followers.TryGetValue(replica, out FollowerProgress? f) ? f.LogEndOffset : -1;
                if (end < hw)
                {
                    hw = end;
                }
            }
        }

        if (hw >= 0)
        {
            log.AdvanceHighWatermark(hw);
        }
    }

    /// <summary>Caller: p.Sync. A follower outside the ISR that reached the high watermark in this leader epoch joins it (KIP-903: under its current broker epoch only).</summary>
    private void MaybeExpandIsr(ReplicaPartition p, PartitionState state, Storage.PartitionLog log, int replicaId, FollowerProgress follower)
    {
        if (state.Isr.Contains(replicaId) || p.IsrChangeInFlight || RefusalHolds(p, state))
        {
            return;
        }

        if (follower.LogEndOffset < log.HighWatermark || follower.LogEndOffset < p.LeaderEpochStartOffset)
        {
            return;
        }

        long registered = BrokerDirectory.BrokerEpochOf(replicaId);
        if (registered < 0 || follower.BrokerEpoch != registered)
        {
            StaleBrokerEpoch(logger, p.Topic, p.Partition, replicaId, follower.BrokerEpoch, registered);
            return;
        }

        ChangeIsr(p, state, [.. state.Isr, replicaId]);
    }

    /// <summary>Caller: p.Sync. Followers that have not caught up for the lag time leave the ISR.</summary>
    private void MaybeShrinkIsr(ReplicaPartition p)
    {
        if (p.State is not { } state || state.Leader != LocalId || p.IsrChangeInFlight || RefusalHolds(p, state))
        {
            return;
        }

        List<int>? keep = null;
        foreach (int replica in state.Isr)
        {
            bool lagging = replica != LocalId && p.Followers.TryGetValue(replica, out FollowerProgress? f) &&
                time.GetElapsedTime(f.LastCaughtUpTimestamp) > options.ReplicaLagTimeMax;
            if (lagging && keep is null)
            {
                keep = [];
                foreach (int r in state.Isr)
                {
                    if (r == replica)
                    {
                        break;
                    }

                    keep.Add(r);
                }
            }
            else if (!lagging)
            {
                keep?.Add(replica);
            }
        }

        if (keep is not null)
        {
            ChangeIsr(p, state, keep);
        }
    }

    /// <summary>
    /// Caller: p.Sync. Whether a refused ISR change still stands: until the next state, or for the fetch backoff when
    /// none comes (a joiner refused for not being registered in the store yet changes no partition state when it
    /// registers, so waiting for a state alone would leave it out of the ISR for good).
    /// </summary>
    private bool RefusalHolds(ReplicaPartition p, PartitionState state) =>
        p.RefusedPartitionEpoch == state.PartitionEpoch && time.GetElapsedTime(p.RefusedTimestamp) < options.FetchBackoff;

    /// <summary>Caller: p.Sync. Writes the new ISR through the control plane, off this thread; a refusal waits for the next state or the fetch backoff.</summary>
    private void ChangeIsr(ReplicaPartition p, PartitionState current, List<int> isr)
    {
        p.IsrChangeInFlight = true;
        _ = Task.Run(async () =>
        {
            PartitionState? recorded = null;
            bool failed = false;
            try
            {
                recorded = await isrSink.AlterIsrAsync(current, isr, _stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !_stopping.IsCancellationRequested)
            {
                failed = true; // the store was unreachable: the next tick or fetch tries again
                IsrChangeFailed(logger, e, p.Topic, p.Partition);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            lock (p.Sync)
            {
                p.IsrChangeInFlight = false;
                if (recorded is not null && p.State is { } now && now.PartitionEpoch < recorded.PartitionEpoch)
                {
                    if (logger.IsEnabled(LogLevel.Information))
                    {
                        string before = string.Join(',', current.Isr);
                        string after = string.Join(',', recorded.Isr);
                        IsrChanged(logger, p.Topic, p.Partition, before, after, recorded.PartitionEpoch);
                    }

                    p.State = recorded;
                    AdvanceHighWatermark(p);
                }
                else if (recorded is null && !failed)
                {
                    p.RefusedPartitionEpoch = current.PartitionEpoch;
                    p.RefusedTimestamp = time.GetTimestamp();
                    IsrChangeRefused(logger, p.Topic, p.Partition, current.PartitionEpoch);
                }
            }
        });
    }

    [LoggerMessage(EventId = 1501, Level = LogLevel.Information, Message = "Leader of {Topic}-{Partition} in epoch {LeaderEpoch} (log end {LogEndOffset}, high watermark {HighWatermark})")]
    private static partial void BecameLeader(ILogger logger, string topic, int partition, int leaderEpoch, long logEndOffset, long highWatermark);

    [LoggerMessage(EventId = 1502, Level = LogLevel.Information, Message = "Follower of {Topic}-{Partition}: leader {Leader} in epoch {LeaderEpoch}")]
    private static partial void BecameFollower(ILogger logger, string topic, int partition, int leader, int leaderEpoch);

    [LoggerMessage(EventId = 1509, Level = LogLevel.Information, Message = "No longer a replica of {Topic}-{Partition} (reassigned away; leader {Leader} in epoch {LeaderEpoch}): stopped serving it")]
    private static partial void NoLongerReplica(ILogger logger, string topic, int partition, int leader, int leaderEpoch);

    [LoggerMessage(EventId = 1507, Level = LogLevel.Information, Message = "Deleted the data of {Topic}-{Partition} (reassigned away; it ended at offset {LogEndOffset})")]
    private static partial void ReplicaDataDeleted(ILogger logger, string topic, int partition, long logEndOffset);

    [LoggerMessage(EventId = 1508, Level = LogLevel.Warning, Message = "Could not delete the data of {Topic}-{Partition} (reassigned away); it stays on disk")]
    private static partial void ReplicaDataNotDeleted(ILogger logger, string topic, int partition, Exception exception);

    [LoggerMessage(EventId = 1503, Level = LogLevel.Information, Message = "ISR of {Topic}-{Partition} changed from [{Old}] to [{New}] (partition epoch {PartitionEpoch})")]
    private static partial void IsrChanged(ILogger logger, string topic, int partition, string old, string @new, int partitionEpoch);

    [LoggerMessage(EventId = 1504, Level = LogLevel.Information, Message = "ISR change of {Topic}-{Partition} at partition epoch {PartitionEpoch} refused; waiting for the next state or the fetch backoff")]
    private static partial void IsrChangeRefused(ILogger logger, string topic, int partition, int partitionEpoch);

    [LoggerMessage(EventId = 1505, Level = LogLevel.Warning, Message = "ISR change of {Topic}-{Partition} failed; retrying")]
    private static partial void IsrChangeFailed(ILogger logger, Exception exception, string topic, int partition);

    [LoggerMessage(EventId = 1506, Level = LogLevel.Debug, Message = "Replica {Replica} of {Topic}-{Partition} fetched with broker epoch {Fetched}, registered {Registered}: not added to the ISR (KIP-903)")]
    private static partial void StaleBrokerEpoch(ILogger logger, string topic, int partition, int replica, long fetched, long registered);
}
