using System.Diagnostics;
using LogBroker.Broker.Replication;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// This broker's membership in the cluster: registers under a lease and keeps it alive, campaigns for
/// controller whenever the key is free, and, while controller, re-runs leader election on every change of
/// the registered brokers. Every broker also follows the brokers, the controller, the topic records and the
/// partition states into the <see cref="ClusterMetadataCache"/> (what Metadata answers from), and hands
/// topics and partition states to the <see cref="TopicMaterializer"/> (local topics, then
/// <see cref="IReplicaManager"/>). A lost lease ends the session (the broker is no longer a member; its
/// controllership went with it) and a new one starts with a new broker epoch. Leadership is bound to the lease
/// (<see cref="MayLead"/>): a broker that cannot renew it stops taking writes before the store can expire it.
/// </summary>
internal sealed partial class ClusterService(
    IControllerStore store, ClusterOptions options, int brokerId, Func<BrokerRegistration> registrationOf, ClusterMetadataCache cache,
    TopicMaterializer materializer, string localClusterId, ILogger<ClusterService> logger)
    : BackgroundService, IBrokerDirectory
{
    private readonly ClusterKeys _keys = new(options.KeyRoot);
    private volatile ClusterController? _controller;

    // The Stopwatch timestamp until which this broker may lead (MayLead): the sending of the last answered grant or
    // keepalive plus the TTL less a margin. The store measures the lease from the request's arrival, later than its
    // sending, so the lease cannot expire (and no other leader be elected) before this. Zero between sessions and until
    // the session's partition states are read (the previous session's states may name this broker leader no more).
    private long _mayLeadUntil;
    private volatile bool _statesCurrent;
    private TaskCompletionSource _mayNotLead = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Records a topic's config overrides in its topic record (AlterConfigs and IncrementalAlterConfigs, received by
    /// any broker): <paramref name="edit"/> is given the record's overrides and returns the new whole set; the write is
    /// conditioned on the record's revision and, when another write came first, read and edited again (a few times).
    /// The record is the user's to change, not a decision of the controller, so the condition on the record suffices:
    /// no write is lost, and a topic deleted meanwhile fails the condition. Every broker with a replica applies the new
    /// configs when its watch sees the record (<see cref="TopicMaterializer"/>).
    /// </summary>
    public async Task<(Protocol.ErrorCode Error, string? Message)> AlterTopicConfigsAsync(
        string name, Handlers.TopicConfigEdit edit, bool validateOnly, CancellationToken cancellationToken)
    {
        if (Metadata.TopicRegistry.IsInternal(name))
        {
            return (Protocol.ErrorCode.InvalidTopicException, $"'{name}' is the broker's own topic.");
        }

        return await store.UpdateAsync<(Protocol.ErrorCode, string?)>(
            _keys.Topic(name),
            5,
            (Protocol.ErrorCode.RequestTimedOut, "The topic's record kept changing; try again."),
            kv =>
            {
                if (kv is null || ClusterJson.Decode<TopicRecord>(kv.Value) is not { } record)
                {
                    return new((Protocol.ErrorCode.UnknownTopicOrPartition, $"Topic '{name}' does not exist."));
                }

                var (error, message, overrides) = edit(record.Configs ?? new Dictionary<string, string>(StringComparer.Ordinal));
                return error != Protocol.ErrorCode.None || validateOnly
                    ? new((error, message))
                    : new((Protocol.ErrorCode.None, null), ClusterJson.Encode(record with { Configs = overrides! }));
            },
            write: null,
            lostRace: null,
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Takes the next <paramref name="size"/> producer ids for this broker, cluster-wide unique: the store's counter
    /// moves by compare-and-set on its revision, so two brokers never take the same block (Kafka's AllocateProducerIds,
    /// with the store in the controller's place). Returns the block's first id, or null when the counter kept changing.
    /// </summary>
    public async Task<long?> AllocateProducerIdBlockAsync(long size, CancellationToken cancellationToken)
    {
        return await store.UpdateAsync<long?>(
            _keys.ProducerIds,
            10,
            null,
            kv =>
            {
                long first = 0;
                if (kv is not null && (!long.TryParse(System.Text.Encoding.ASCII.GetString(kv.Value), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out first)
                    || first > long.MaxValue - size))
                {
                    throw new InvalidDataException($"The store's {_keys.ProducerIds} is not a producer id counter.");
                }

                return new(first, System.Text.Encoding.ASCII.GetBytes((first + size).ToString(System.Globalization.CultureInfo.InvariantCulture)));
            },
            write: null,
            lostRace: null,
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>This broker's registration in the current session (with its broker epoch), or null between sessions.</summary>
    public BrokerRegistration? Registration { get; private set; }

    /// <summary>The controller this broker runs, or null when another broker is controller.</summary>
    public ClusterController? Controller => _controller;

    /// <inheritdoc/>
    public bool MayLead => _statesCurrent && Stopwatch.GetTimestamp() < Volatile.Read(ref _mayLeadUntil);

    /// <inheritdoc/>
    public Task WhenMayNotLead => Volatile.Read(ref _mayNotLead).Task;

    /// <summary>This broker's id.</summary>
    public int BrokerId => brokerId;

    /// <summary>What this broker last saw of the cluster.</summary>
    public ClusterMetadataCache Cache => cache;

    /// <summary>The registered brokers as last seen.</summary>
    public IReadOnlyDictionary<int, BrokerRegistration> Brokers => cache.Brokers;

    /// <inheritdoc/>
    public long BrokerEpochOf(int brokerId) => cache.Brokers.TryGetValue(brokerId, out var broker) ? broker.BrokerEpoch : -1;

    /// <inheritdoc/>
    public bool TryGetEndpoint(int brokerId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out BrokerEndpoint? endpoint)
    {
        endpoint = cache.Brokers.TryGetValue(brokerId, out var broker) ? broker.InterBrokerEndpoint() : null;
        return endpoint is not null;
    }

    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunSessionAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                SessionFailed(logger, brokerId, e);
            }

            EndLeadership();
            _controller = null;
            Registration = null;
            await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false);
        }
    }

    private async Task RunSessionAsync(CancellationToken stoppingToken)
    {
        // One cluster id for every broker (clients check it): the first broker's data-directory id wins.
        await store.TxnAsync(
            [StoreCompare.Absent(_keys.ClusterId)], [new StoreOp.Put(_keys.ClusterId, System.Text.Encoding.UTF8.GetBytes(localClusterId))], [], stoppingToken)
            .ConfigureAwait(false);
        if (await store.GetAsync(_keys.ClusterId, stoppingToken).ConfigureAwait(false) is { } id)
        {
            cache.ClusterId = System.Text.Encoding.UTF8.GetString(id.Value);
        }

        EndLeadership();
        long sent = Stopwatch.GetTimestamp();
        var lease = await store.GrantLeaseAsync(options.LeaseTtl, stoppingToken).ConfigureAwait(false);
        LeaseRenewed(sent);
        var registration = await new BrokerRegistrar(store, _keys)
            .RegisterAsync(registrationOf(), lease, stoppingToken).ConfigureAwait(false);
        if (registration is null)
        {
            // Our previous incarnation's lease has not expired yet (or another process has our id): wait it out.
            await store.RevokeLeaseAsync(lease, stoppingToken).ConfigureAwait(false);
            IdTaken(logger, brokerId);
            return;
        }

        Registration = registration;
        Registered(logger, brokerId, registration.BrokerEpoch);
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var tasks = new[]
        {
            KeepAliveAsync(lease, session),
            WatchLeaseAsync(session.Token),
            FollowBrokersAsync(lease, session.Token),
            FollowTopicsAsync(session.Token),
            FollowPartitionsAsync(session.Token),
        };
        await Task.WhenAny(tasks).ConfigureAwait(false);
        await session.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        if (stoppingToken.IsCancellationRequested)
        {
            // A clean stop hands the controllership and the partitions over at once rather than after the TTL.
            await store.RevokeLeaseAsync(lease, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task KeepAliveAsync(long lease, CancellationTokenSource session)
    {
        var interval = options.LeaseTtl / 3;
        while (!session.IsCancellationRequested)
        {
            await Task.Delay(interval, session.Token).ConfigureAwait(false);
            long sent = Stopwatch.GetTimestamp();
            if (!await store.KeepAliveAsync(lease, session.Token).ConfigureAwait(false))
            {
                EndLeadership();
                LeaseLost(logger, brokerId);
                return;
            }

            LeaseRenewed(sent);
        }
    }

    // A quarter of the TTL as margin: for the time from a produce's check to its append, and for a process paused
    // between reading the clock and acting on it.
    private void LeaseRenewed(long sent)
    {
        long ttl = (long)(options.LeaseTtl.TotalSeconds * Stopwatch.Frequency);
        Volatile.Write(ref _mayLeadUntil, sent + ttl - (ttl / 4));
    }

    private void EndLeadership()
    {
        _statesCurrent = false;
        Volatile.Write(ref _mayLeadUntil, 0);
        SignalMayNotLead();
    }

    private void SignalMayNotLead() =>
        Interlocked.Exchange(ref _mayNotLead, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    // Wakes the writes waiting at this leader when the lease lapses (a keepalive hung or late): MayLead turns false by
    // the clock alone, and they are answered NOT_LEADER_OR_FOLLOWER then, not at their timeout. Runs for the session.
    private async Task WatchLeaseAsync(CancellationToken cancellationToken)
    {
        long signalled = -1;
        while (!cancellationToken.IsCancellationRequested)
        {
            long until = Volatile.Read(ref _mayLeadUntil);
            TimeSpan left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), until);
            if (left > TimeSpan.Zero)
            {
                await Task.Delay(left + TimeSpan.FromMilliseconds(1), cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (signalled != until)
            {
                signalled = until;
                SignalMayNotLead();
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
        }
    }

    // Brokers and the controller key: one watch over both prefixes' parent would also carry every partition
    // change, so two reads per change are cheaper than filtering them all.
    private async Task FollowBrokersAsync(long lease, CancellationToken cancellationToken)
    {
        var range = await store.RangeAsync(_keys.BrokersPrefix, cancellationToken).ConfigureAwait(false);
        cache.ClearBrokers();
        foreach (var kv in range.Items)
        {
            Track(kv, false);
        }

        await ReactAsync(lease, cancellationToken).ConfigureAwait(false);
        var controllerWatch = FollowControllerAsync(lease, range.Revision + 1, cancellationToken);
        await foreach (var e in store.WatchAsync(_keys.BrokersPrefix, range.Revision + 1, cancellationToken).ConfigureAwait(false))
        {
            Track(e.Kv, e.IsDelete);
            await ReactAsync(lease, cancellationToken).ConfigureAwait(false);
        }

        await controllerWatch.ConfigureAwait(false);
    }

    private async Task FollowControllerAsync(long lease, long fromRevision, CancellationToken cancellationToken)
    {
        // The key as of the brokers' read (a change since then is in the watch from that revision on).
        var current = await store.GetAsync(_keys.Controller, cancellationToken).ConfigureAwait(false);
        if (current is not null && current.ModRevision < fromRevision)
        {
            cache.SetController(ParseController(current.Value));
        }

        await foreach (var e in store.WatchAsync(_keys.Controller, fromRevision, cancellationToken).ConfigureAwait(false))
        {
            cache.SetController(e.IsDelete ? -1 : ParseController(e.Kv.Value));
            if (e.IsDelete)
            {
                await ReactAsync(lease, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static int ParseController(byte[] value) =>
        int.TryParse(value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var id) ? id : -1;

    private async Task ReactAsync(long lease, CancellationToken cancellationToken)
    {
        if (_controller is null)
        {
            var election = new ControllerElection(store, brokerId, _keys.Controller);
            if (await election.TryCampaignAsync(lease, cancellationToken).ConfigureAwait(false) is { } epoch)
            {
                _controller = new ClusterController(store, _keys, election, epoch, options.UncleanLeaderElection);
                cache.SetController(brokerId);
                BecameController(logger, brokerId, epoch);
            }
        }

        if (_controller is { } controller && await controller.HandleBrokerChangesAsync(cancellationToken).ConfigureAwait(false) < 0)
        {
            Deposed(logger, brokerId, controller.Epoch);
            _controller = null;
        }

        // The offsets topic as soon as it can have its full replication factor (a request may create it earlier, smaller).
        if (_controller is { } current && cache.Topic(GroupCoordinatorMap.OffsetsTopic) is null && cache.Brokers.Count >= options.OffsetsTopicReplicationFactor)
        {
            await current.EnsureOffsetsTopicAsync(options.OffsetsTopicPartitions, options.OffsetsTopicReplicationFactor, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Track(StoreKeyValue kv, bool deleted)
    {
        if (!int.TryParse(kv.Key.AsSpan(_keys.BrokersPrefix.Length), out var id))
        {
            return;
        }

        if (deleted)
        {
            cache.RemoveBroker(id);
        }
        else if (ClusterJson.Decode<BrokerRegistration>(kv.Value) is { } broker && broker.Id == id)
        {
            cache.SetBroker(broker with { BrokerEpoch = kv.CreateRevision });
        }
    }

    private async Task FollowTopicsAsync(CancellationToken cancellationToken)
    {
        var range = await store.RangeAsync(_keys.TopicsPrefix, cancellationToken).ConfigureAwait(false);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var kv in range.Items)
        {
            if (DecodeTopic(kv) is { } topic)
            {
                seen.Add(topic.Name);
                cache.SetTopic(topic);
            }
        }

        foreach (var name in cache.Topics.Keys)
        {
            if (!seen.Contains(name))
            {
                // Deleted between two sessions of this broker.
                TopicGone(name);
            }
        }

        materializer.DetachUnknown();
        foreach (var name in seen)
        {
            materializer.TopicChanged(name);
        }

        await foreach (var e in store.WatchAsync(_keys.TopicsPrefix, range.Revision + 1, cancellationToken).ConfigureAwait(false))
        {
            if (e.IsDelete)
            {
                TopicGone(e.Kv.Key[_keys.TopicsPrefix.Length..]);
            }
            else if (DecodeTopic(e.Kv) is { } topic)
            {
                cache.SetTopic(topic);
                materializer.TopicChanged(topic.Name);
            }
        }
    }

    private void TopicGone(string name)
    {
        if (cache.Topic(name) is { } previous)
        {
            cache.RemoveTopic(name);
            materializer.TopicDeleted(previous);
        }
    }

    private TopicRecord? DecodeTopic(StoreKeyValue kv) =>
        ClusterJson.Decode<TopicRecord>(kv.Value) is { Name: not null, Configs: not null } topic && topic.Partitions > 0
            && kv.Key.Length == _keys.TopicsPrefix.Length + topic.Name.Length && kv.Key.EndsWith(topic.Name, StringComparison.Ordinal)
            ? topic : null;

    private async Task FollowPartitionsAsync(CancellationToken cancellationToken)
    {
        var range = await store.RangeAsync(_keys.PartitionsPrefix, cancellationToken).ConfigureAwait(false);
        var seen = new HashSet<(string, int)>();
        foreach (var kv in range.Items)
        {
            if (Deliver(kv, false) is { } key)
            {
                seen.Add(key);
            }
        }

        foreach (var state in cache.Partitions)
        {
            if (!seen.Contains((state.Topic, state.Partition)))
            {
                cache.RemovePartition(state.Topic, state.Partition);
                materializer.PartitionDeleted(state.Topic, state.Partition);
            }
        }

        // Every partition now has this session's state: leadership is the lease's from here.
        _statesCurrent = true;

        await foreach (var e in store.WatchAsync(_keys.PartitionsPrefix, range.Revision + 1, cancellationToken).ConfigureAwait(false))
        {
            Deliver(e.Kv, e.IsDelete);
        }
    }

    private (string, int)? Deliver(StoreKeyValue kv, bool deleted)
    {
        var rest = kv.Key.AsSpan(_keys.PartitionsPrefix.Length);
        var slash = rest.LastIndexOf('/');
        if (slash <= 0 || !int.TryParse(rest[(slash + 1)..], out var partition) || partition < 0)
        {
            return null;
        }

        var topic = rest[..slash].ToString();
        if (deleted)
        {
            cache.RemovePartition(topic, partition);
            materializer.PartitionDeleted(topic, partition);
            return null;
        }

        if (ClusterJson.DecodePartition(kv.Value) is not { } state || state.Topic != topic || state.Partition != partition)
        {
            return null;
        }

        if (cache.Partition(topic, partition) is { } previous)
        {
            if (previous.PartitionEpoch > state.PartitionEpoch)
            {
                return (topic, partition); // a replayed older state (a new session's read races the old watch): keep the newer
            }

            if (previous.Leader != state.Leader)
            {
                cache.CountLeaderChange();
            }
        }

        cache.SetPartition(state);
        materializer.PartitionChanged(topic, partition);
        return (topic, partition);
    }

    [LoggerMessage(EventId = 1401, Level = LogLevel.Information, Message = "Broker {BrokerId} registered with broker epoch {BrokerEpoch}")]
    private static partial void Registered(ILogger logger, int brokerId, long brokerEpoch);

    [LoggerMessage(EventId = 1402, Level = LogLevel.Warning, Message = "Broker id {BrokerId} is still registered (a previous incarnation's lease, or another process); retrying")]
    private static partial void IdTaken(ILogger logger, int brokerId);

    [LoggerMessage(EventId = 1403, Level = LogLevel.Warning, Message = "Broker {BrokerId} lost its lease; registering again")]
    private static partial void LeaseLost(ILogger logger, int brokerId);

    [LoggerMessage(EventId = 1404, Level = LogLevel.Information, Message = "Broker {BrokerId} is controller with epoch {Epoch}")]
    private static partial void BecameController(ILogger logger, int brokerId, long epoch);

    [LoggerMessage(EventId = 1405, Level = LogLevel.Warning, Message = "Broker {BrokerId} was deposed as controller of epoch {Epoch}")]
    private static partial void Deposed(ILogger logger, int brokerId, long epoch);

    [LoggerMessage(EventId = 1406, Level = LogLevel.Error, Message = "Cluster session of broker {BrokerId} failed; starting a new one")]
    private static partial void SessionFailed(ILogger logger, int brokerId, Exception exception);
}
