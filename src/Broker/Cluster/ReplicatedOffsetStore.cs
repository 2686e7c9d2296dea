using System.Collections.Concurrent;
using System.Diagnostics;
using LogBroker.Broker.Groups;
using LogBroker.Broker.Replication;
using LogBroker.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// Committed offsets in cluster mode, as Kafka keeps them: a group's commits go to partition
/// <see cref="GroupCoordinatorMap.PartitionFor"/> of <c>__consumer_offsets</c>, replicated like any partition, and
/// are acknowledged once the ISR has them. The leader of that partition coordinates the group; when a broker becomes
/// leader it loads the partition's offsets (its groups answer COORDINATOR_LOAD_IN_PROGRESS meanwhile), and when it
/// stops leading it drops them. So a group and its offsets survive the loss of its coordinator.
/// </summary>
/// <remarks>
/// <para>A commit is appended only while this broker leads the partition in the epoch it loaded it in, and
/// acknowledged only when the high watermark has passed it in that same epoch (a deposed leader takes the new
/// leader's high watermark after truncating, so the high watermark alone proves nothing). Errors as Kafka maps them
/// for an offset commit: not the leader (any more) NOT_COORDINATOR; not enough replicas or not replicated within
/// <see cref="CommitTimeout"/> COORDINATOR_NOT_AVAILABLE. Either way the client finds the coordinator again and
/// retries.</para>
/// <para>Each led partition has its own <see cref="OffsetLog"/> (compacted by snapshot, the replaced entries deleted
/// once the snapshot is replicated; followers follow the leader's log start). Loads and drops run off the replica
/// manager's lock, one at a time, and a load superseded by a newer role change is discarded.</para>
/// <para>A classic group's membership moves too (its GroupMetadata records, rebuilt through the classic coordinator's
/// RestoreGroups). A server-side (KIP-848) group is routed to this coordinator as well, but its membership is not
/// recorded: at a new coordinator its members are fenced and rejoin from their committed offsets.</para>
/// </remarks>
internal sealed partial class ReplicatedOffsetStore(
    ClusterService cluster, ReplicaManager replicas, BrokerOptions broker, TimeProvider time, IServiceProvider services, ILogger<ReplicatedOffsetStore> logger)
    : IOffsetStore, IReplicaRoleListener
{
    /// <summary>How long a commit waits for its ISR (Kafka's offsets.commit.timeout.ms).</summary>
    public static readonly TimeSpan CommitTimeout = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<int, Led> _led = new();
    private readonly Lock _roles = new();
    private readonly Dictionary<int, long> _generations = [];
    private readonly Lock _loading = new();
    private long _generation;
    private OffsetManager? _manager;

    /// <summary>A partition this broker leads and has loaded: its offset log, its replication state, the epoch.</summary>
    private sealed record Led(OffsetLog Log, ReplicaPartition Replica, int LeaderEpoch);

    /// <summary>The directory the loaded offsets go to (set once, by the manager's factory: the manager takes this store).</summary>
    public OffsetManager Manager
    {
        set => _manager = value;
    }

    /// <inheritdoc/>
    public bool Replicated => true;

    /// <summary>Whether this broker leads partition <paramref name="partition"/> of <c>__consumer_offsets</c> and has loaded it.</summary>
    public bool IsLoaded(int partition) => _led.ContainsKey(partition);

    /// <inheritdoc/>
    public IEnumerable<(string Group, string Topic, int Partition, CommittedOffset Offset)> Load() => []; // per partition, on leadership

    /// <inheritdoc/>
    public OffsetPosition Append(string group, IReadOnlyList<(string Topic, int Partition, CommittedOffset? Offset)> changes)
    {
        int partition = PartitionOf(group);
        if (partition < 0 || !_led.TryGetValue(partition, out Led? led))
        {
            throw new OffsetStoreException(ErrorCode.NotCoordinator, "This broker does not lead the group's offsets partition.");
        }

        ErrorCode refused = replicas.CheckProduce(led.Replica, -1, out int epoch);
        if (refused != ErrorCode.None || epoch != led.LeaderEpoch)
        {
            throw new OffsetStoreException(refused == ErrorCode.NotEnoughReplicas ? ErrorCode.CoordinatorNotAvailable : ErrorCode.NotCoordinator,
                $"The group's offsets partition cannot take the commit here ({refused}).");
        }

        return new OffsetPosition(led.Log.Append(group, changes), partition, epoch);
    }

    /// <inheritdoc/>
    public Task WhenDurableAsync(OffsetPosition position)
    {
        if (replicas.Find(GroupCoordinatorMap.OffsetsTopic, position.Partition) is not { Log: { } log } replica)
        {
            return Task.FromException(new OffsetStoreException(ErrorCode.NotCoordinator, "The offsets partition is not here."));
        }

        ErrorCode now = replicas.Replicated(replica, log, position.Offset - 1, position.LeaderEpoch);
        return now == ErrorCode.RequestTimedOut ? WaitReplicatedAsync(replica, log, position) : Answer(now);
    }

    private async Task WaitReplicatedAsync(ReplicaPartition replica, Storage.PartitionLog log, OffsetPosition position)
    {
        using var timeout = new CancellationTokenSource(CommitTimeout, time);
        await Answer(await replicas.WaitReplicatedAsync(replica, log, position.Offset - 1, position.LeaderEpoch, timeout.Token).ConfigureAwait(false))
            .ConfigureAwait(false);
    }

    /// <summary>Kafka's mapping for an offset commit: not replicated in time COORDINATOR_NOT_AVAILABLE, deposed NOT_COORDINATOR.</summary>
    private static Task Answer(ErrorCode replicated) => replicated switch
    {
        ErrorCode.None => Task.CompletedTask,
        ErrorCode.RequestTimedOut => Task.FromException(new OffsetStoreException(ErrorCode.CoordinatorNotAvailable, "The commit was not replicated in time.")),
        _ => Task.FromException(new OffsetStoreException(ErrorCode.NotCoordinator, "The coordinator changed before the commit was replicated.")),
    };

    /// <inheritdoc/>
    public void AppendGroup(string group, GroupMetadataRecord? state, long timestampMs)
    {
        if (PartitionOf(group) is var partition and >= 0 && _led.TryGetValue(partition, out Led? led))
        {
            led.Log.AppendGroup(group, state, timestampMs); // for tools reading the topic; not waited for
        }
    }

    /// <inheritdoc/>
    public void RoleChanged(ReplicaPartition partition, PartitionState state, bool leads)
    {
        if (partition.Topic != GroupCoordinatorMap.OffsetsTopic)
        {
            return;
        }

        long generation;
        lock (_roles)
        {
            generation = ++_generation;
            _generations[partition.Partition] = generation;
            _led.TryRemove(partition.Partition, out _); // no commit is taken in the old role from now on
        }

        int epoch = state.LeaderEpoch;
        _ = Task.Run(() => TakeRole(partition, leads, epoch, generation));
    }

    private void TakeRole(ReplicaPartition partition, bool leads, int epoch, long generation)
    {
        _loading.Enter();
        try
        {
            if (!IsCurrent(partition.Partition, generation) || partition.Log is not { } log)
            {
                return;
            }

            // The manager takes this store; built on first use (its factory sets Manager) if nothing asked for it yet.
            OffsetManager manager = _manager ?? services.GetRequiredService<OffsetManager>();
            _ = services.GetService<GroupCoordinator>(); // the classic coordinator restores the groups' members (RestoreGroups)

            int count = cluster.Cache.Topic(GroupCoordinatorMap.OffsetsTopic)?.Partitions ?? 0;
            int index = partition.Partition;
            bool Belongs(string group) => count > 0 && GroupCoordinatorMap.PartitionFor(group, count) == index;
            if (!leads)
            {
                int dropped = manager.Drop(Belongs);
                if (dropped > 0)
                {
                    Unloaded(logger, index, dropped);
                }

                return;
            }

            long started = Stopwatch.GetTimestamp();
            int compactAfter = broker.OffsetsCompactionBytes;
            var offsets = new OffsetLog(log, () => replicas.OnLeaderAppend(partition), compactAfter, Math.Min(1024 * 1024, compactAfter / 8), logger);
            int loaded = manager.Replace(Belongs, offsets.Load(), offsets.Groups());
            bool published = false;
            lock (_roles) // published only if no role change came meanwhile (that one removes it, or supersedes this load)
            {
                if (_generations.GetValueOrDefault(index) == generation && replicas.Leads(partition, epoch))
                {
                    _led[index] = new Led(offsets, partition, epoch);
                    published = true;
                }
            }

            if (published)
            {
                double milliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                Loaded(logger, index, epoch, loaded, log.LogStartOffset, log.LogEndOffset, milliseconds);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            LoadFailed(logger, e, partition.Partition); // its groups stay COORDINATOR_LOAD_IN_PROGRESS until the next role change
        }
        finally
        {
            _loading.Exit();
        }
    }

    private bool IsCurrent(int partition, long generation)
    {
        lock (_roles)
        {
            return _generations.GetValueOrDefault(partition) == generation;
        }
    }

    private int PartitionOf(string group) =>
        cluster.Cache.Topic(GroupCoordinatorMap.OffsetsTopic) is { Partitions: > 0 } topic ? GroupCoordinatorMap.PartitionFor(group, topic.Partitions) : -1;

    [LoggerMessage(EventId = 1431, Level = LogLevel.Information,
        Message = "Coordinator of __consumer_offsets-{Partition} in leader epoch {LeaderEpoch}: loaded {Offsets} committed offsets (offsets {Start} to {End}) in {Milliseconds:F0} ms")]
    private static partial void Loaded(ILogger logger, int partition, int leaderEpoch, int offsets, long start, long end, double milliseconds);

    [LoggerMessage(EventId = 1432, Level = LogLevel.Information, Message = "No longer the coordinator of __consumer_offsets-{Partition}: {Groups} groups dropped")]
    private static partial void Unloaded(ILogger logger, int partition, int groups);

    [LoggerMessage(EventId = 1433, Level = LogLevel.Error, Message = "Loading __consumer_offsets-{Partition} failed; its groups wait for the next leader change")]
    private static partial void LoadFailed(ILogger logger, Exception exception, int partition);
}
