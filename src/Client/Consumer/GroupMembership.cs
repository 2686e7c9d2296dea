using LogBroker.Client.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace LogBroker.Client.Consumer;

/// <summary>
/// A consumer's membership in a group: a background loop that joins, keeps the member alive and applies
/// assignment changes to the consumer (revoking with a commit before partitions move).
/// </summary>
internal abstract partial class GroupMembership : IAsyncDisposable
{
    private readonly WakeSignal _wake;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private volatile bool _subscriptionChanged = true;

    protected GroupMembership(KafkaConsumer consumer, ConsumerOptions options, string groupId)
    {
        Consumer = consumer;
        Options = options;
        _wake = new WakeSignal(options.TimeProvider);
        GroupId = groupId;
    }

    protected KafkaConsumer Consumer { get; }

    protected ConsumerOptions Options { get; }

    protected string GroupId { get; }

    protected Cluster Cluster => Consumer.Cluster;

    protected CancellationToken Stopping => _stop.Token;

    /// <summary>The member id (empty before the first join).</summary>
    public abstract string MemberId { get; }

    /// <summary>The generation (classic) or member epoch (server-side) and member id that commits carry.</summary>
    public abstract (int GenerationOrEpoch, string MemberId) CommitIdentity { get; }

    /// <summary>The topics changed: rejoin with the new subscription.</summary>
    public void SubscriptionChanged()
    {
        _subscriptionChanged = true;
        _loop ??= Task.Run(LoopAsync);
        Wake();
    }

    protected bool TakeSubscriptionChange()
    {
        bool changed = _subscriptionChanged;
        _subscriptionChanged = false;
        return changed;
    }

    protected void Wake() => _wake.Set();

    /// <summary>Waits up to <paramref name="delay"/>, or until woken.</summary>
    protected Task WaitAsync(TimeSpan delay) => _wake.WaitAsync(delay, _stop.Token);

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await StepAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (KafkaException e) when (IsFatal(e.ErrorCode))
            {
                LogFatal(Consumer.Logger, GroupId, e.Message);
                Consumer.Fatal(e);
                return;
            }
            catch (KafkaException e)
            {
                if (Coordinators.MeansCoordinatorMoved(e.ErrorCode))
                {
                    Cluster.InvalidateCoordinator(GroupId);
                }

                LogRetry(Consumer.Logger, GroupId, e.Message);
                await WaitAsync(Options.RetryBackoff).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogLoopFailed(Consumer.Logger, e);
                await WaitAsync(Options.RetryBackoff).ConfigureAwait(false);
            }
        }
    }

    private static bool IsFatal(ErrorCode code) => code is ErrorCode.FencedInstanceId or ErrorCode.GroupAuthorizationFailed
        or ErrorCode.InvalidGroupId or ErrorCode.InconsistentGroupProtocol or ErrorCode.GroupMaxSizeReached
        or ErrorCode.UnsupportedAssignor or ErrorCode.UnsupportedVersion or ErrorCode.InvalidSessionTimeout;

    /// <summary>One step of the membership: join, heartbeat, reconcile, then wait.</summary>
    protected abstract Task StepAsync();

    /// <summary>Leaves the group (after revoking with a commit).</summary>
    protected abstract Task LeaveAsync(CancellationToken cancellationToken);

    /// <summary>Sends a group request to the coordinator; the caller handles the response's error codes.</summary>
    protected Task<TResponse> CoordinatorAsync<TResponse>(ApiKey key, IKafkaMessage request, TimeSpan? timeout = null)
        where TResponse : IKafkaMessage, new() =>
        Cluster.SendToCoordinatorAsync<TResponse>(GroupId, key, request, null, Stopping, timeout);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        using var leave = new CancellationTokenSource(Options.RequestTimeout);
        await LeaveAsync(leave.Token).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Error, Message = "Group {Group}: fatal error, the consumer stops: {Reason}")]
    private static partial void LogFatal(ILogger logger, string group, string reason);

    [LoggerMessage(EventId = 401, Level = LogLevel.Information, Message = "Group {Group}: {Reason}; retrying")]
    private static partial void LogRetry(ILogger logger, string group, string reason);

    [LoggerMessage(EventId = 402, Level = LogLevel.Error, Message = "The group membership loop failed")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);

    protected static List<TopicPartition> Except(List<TopicPartition> a, HashSet<TopicPartition> b)
    {
        var result = new List<TopicPartition>();
        foreach (TopicPartition tp in a)
        {
            if (!b.Contains(tp))
            {
                result.Add(tp);
            }
        }

        return result;
    }
}

/// <summary>The classic protocol: JoinGroup, SyncGroup (the leader runs the assignor), Heartbeat, LeaveGroup.</summary>
internal sealed class ClassicMembership : GroupMembership
{
    private readonly IPartitionAssignor[] _assignors;
    private string _memberId = "";
    private int _generation = -1;
    private IPartitionAssignor? _protocol;
    private bool _joined;
    private bool _isLeader;
    private Dictionary<string, int> _leaderPartitionCounts = new(StringComparer.Ordinal);
    private DateTimeOffset _lastMetadataCheck;

    public ClassicMembership(KafkaConsumer consumer, ConsumerOptions options, string groupId)
        : base(consumer, options, groupId)
    {
        _lastMetadataCheck = options.TimeProvider.GetUtcNow();
        _assignors = new IPartitionAssignor[options.PartitionAssignmentStrategies.Count];
        for (int i = 0; i < _assignors.Length; i++)
        {
            _assignors[i] = Assignors.For(options.PartitionAssignmentStrategies[i]);
        }
    }

    public override string MemberId => _memberId;

    public override (int GenerationOrEpoch, string MemberId) CommitIdentity => (_generation, _memberId);

    protected override async Task StepAsync()
    {
        if (TakeSubscriptionChange() || !_joined)
        {
            await JoinAsync().ConfigureAwait(false);
            return;
        }

        HeartbeatResponse heartbeat = await CoordinatorAsync<HeartbeatResponse>(ApiKey.Heartbeat, new HeartbeatRequest
        {
            GroupId = GroupId,
            GenerationId = _generation,
            MemberId = _memberId,
            GroupInstanceId = Options.GroupInstanceId,
        }).ConfigureAwait(false);
        var error = (ErrorCode)heartbeat.ErrorCode;
        switch (error)
        {
            case ErrorCode.None:
                break;
            case ErrorCode.RebalanceInProgress:
                _joined = false;
                return;
            case ErrorCode.IllegalGeneration or ErrorCode.UnknownMemberId:
                await LoseAllAsync(error == ErrorCode.UnknownMemberId).ConfigureAwait(false);
                return;
            default:
                throw new KafkaException(error, $"Heartbeat: {error}.");
        }

        if (_isLeader && Options.TimeProvider.GetUtcNow() - _lastMetadataCheck > Min(Options.MetadataMaxAge, TimeSpan.FromSeconds(30)))
        {
            // The leader notices new partitions of subscribed topics and rebalances to hand them out.
            _lastMetadataCheck = Options.TimeProvider.GetUtcNow();
            ClusterSnapshot snapshot = await Cluster.RefreshAsync([.. _leaderPartitionCounts.Keys], false, Stopping).ConfigureAwait(false);
            foreach (KeyValuePair<string, int> kv in _leaderPartitionCounts)
            {
                if (snapshot.Topics.TryGetValue(kv.Key, out TopicInfo? info) && info.PartitionCount != kv.Value)
                {
                    _joined = false;
                    return;
                }
            }
        }

        await WaitAsync(Options.HeartbeatInterval).ConfigureAwait(false);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private async Task LoseAllAsync(bool resetMemberId)
    {
        await Consumer.RevokeAsync(Consumer.OwnedPartitions(), lost: true).ConfigureAwait(false);
        _generation = -1;
        if (resetMemberId)
        {
            _memberId = "";
        }

        _joined = false;
    }

    private async Task JoinAsync()
    {
        IReadOnlyList<string> topics = Consumer.Subscription;
        if (_protocol is { IsCooperative: false } || !_joined && _protocol is null)
        {
            // Eager protocols give everything up before joining (with a commit when auto-committing).
            await Consumer.RevokeAsync(Consumer.OwnedPartitions(), lost: false).ConfigureAwait(false);
        }

        if (topics.Count > 0)
        {
            await Cluster.RefreshAsync(topics, Options.AllowAutoCreateTopics, Stopping).ConfigureAwait(false);
        }

        List<TopicPartition> owned = Consumer.OwnedPartitions();
        var request = new JoinGroupRequest
        {
            GroupId = GroupId,
            SessionTimeoutMs = (int)Options.SessionTimeout.TotalMilliseconds,
            RebalanceTimeoutMs = (int)Options.MaxPollInterval.TotalMilliseconds,
            MemberId = _memberId,
            GroupInstanceId = Options.GroupInstanceId,
            ProtocolType = "consumer",
            Reason = null,
        };
        byte[] metadata = ConsumerProtocol.WriteSubscription([.. topics], owned, _generation);
        foreach (IPartitionAssignor a in _assignors)
        {
            request.Protocols.Add(new JoinGroupRequest.JoinGroupRequestProtocol { Name = a.Name, Metadata = metadata });
        }

        JoinGroupResponse join = await CoordinatorAsync<JoinGroupResponse>(ApiKey.JoinGroup, request, Options.MaxPollInterval + TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        var error = (ErrorCode)join.ErrorCode;
        if (error == ErrorCode.MemberIdRequired)
        {
            _memberId = join.MemberId;
            Wake();
            _joined = false;
            TakeSubscriptionChange();
            return;
        }

        if (error is ErrorCode.UnknownMemberId or ErrorCode.IllegalGeneration)
        {
            await LoseAllAsync(true).ConfigureAwait(false);
            return;
        }

        if (error == ErrorCode.RebalanceInProgress)
        {
            _joined = false;
            return;
        }

        if (error != ErrorCode.None)
        {
            throw new KafkaException(error, $"JoinGroup: {error}.");
        }

        _memberId = join.MemberId;
        _generation = join.GenerationId;
        _protocol = FindAssignor(join.ProtocolName);
        _isLeader = join.Leader == join.MemberId;
        var sync = new SyncGroupRequest
        {
            GroupId = GroupId,
            GenerationId = _generation,
            MemberId = _memberId,
            GroupInstanceId = Options.GroupInstanceId,
            ProtocolType = "consumer",
            ProtocolName = join.ProtocolName,
        };
        if (_isLeader && !join.SkipAssignment)
        {
            foreach ((string member, List<TopicPartition> partitions) in await AssignAsync(join.Members).ConfigureAwait(false))
            {
                sync.Assignments.Add(new SyncGroupRequest.SyncGroupRequestAssignment { MemberId = member, Assignment = ConsumerProtocol.WriteAssignment(partitions) });
            }
        }

        SyncGroupResponse synced = await CoordinatorAsync<SyncGroupResponse>(ApiKey.SyncGroup, sync, Options.MaxPollInterval + TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        error = (ErrorCode)synced.ErrorCode;
        if (error == ErrorCode.RebalanceInProgress)
        {
            _joined = false;
            return;
        }

        if (error is ErrorCode.UnknownMemberId or ErrorCode.IllegalGeneration)
        {
            await LoseAllAsync(error == ErrorCode.UnknownMemberId).ConfigureAwait(false);
            return;
        }

        if (error != ErrorCode.None)
        {
            throw new KafkaException(error, $"SyncGroup: {error}.");
        }

        List<TopicPartition> assigned = ConsumerProtocol.ReadAssignment(synced.Assignment.Span);
        var assignedSet = new HashSet<TopicPartition>(assigned);
        List<TopicPartition> current = Consumer.OwnedPartitions();
        List<TopicPartition> revoked = Except(current, assignedSet);
        List<TopicPartition> added = Except(assigned, [.. current]);
        _joined = true;
        if (revoked.Count > 0)
        {
            await Consumer.RevokeAsync(revoked, lost: false).ConfigureAwait(false);
            if (_protocol.IsCooperative)
            {
                // Cooperative: the revoked partitions go to their new owner in a follow-up rebalance.
                _joined = false;
            }
        }

        Consumer.AddAssigned(added);
    }

    private IPartitionAssignor FindAssignor(string? name)
    {
        foreach (IPartitionAssignor a in _assignors)
        {
            if (a.Name == name)
            {
                return a;
            }
        }

        throw new KafkaException(ErrorCode.InconsistentGroupProtocol, $"The group chose assignor '{name}', which this consumer did not offer.");
    }

    private async Task<Dictionary<string, List<TopicPartition>>> AssignAsync(List<JoinGroupResponse.JoinGroupResponseMember> joined)
    {
        var members = new List<AssignorMember>(joined.Count);
        var topics = new HashSet<string>(StringComparer.Ordinal);
        foreach (JoinGroupResponse.JoinGroupResponseMember m in joined)
        {
            Protocol.Messages.ConsumerProtocolSubscription? s = ConsumerProtocol.ReadSubscription(m.Metadata.Span);
            var owned = new List<TopicPartition>();
            List<string> memberTopics = s?.Topics ?? [];
            if (s is not null)
            {
                foreach (Protocol.Messages.ConsumerProtocolSubscription.TopicPartition t in s.OwnedPartitions)
                {
                    foreach (int p in t.Partitions)
                    {
                        owned.Add(new TopicPartition(t.Topic, p));
                    }
                }
            }

            foreach (string t in memberTopics)
            {
                topics.Add(t);
            }

            members.Add(new AssignorMember(m.MemberId, m.GroupInstanceId, memberTopics, owned, s?.GenerationId ?? -1));
        }

        ClusterSnapshot snapshot = await Cluster.RefreshAsync(topics, Options.AllowAutoCreateTopics, Stopping).ConfigureAwait(false);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string t in topics)
        {
            if (snapshot.Topics.TryGetValue(t, out TopicInfo? info) && info.Error == ErrorCode.None && info.PartitionCount > 0)
            {
                counts[t] = info.PartitionCount;
            }
        }

        _leaderPartitionCounts = counts;
        _lastMetadataCheck = Options.TimeProvider.GetUtcNow();
        return _protocol!.Assign(members, counts);
    }

    protected override async Task LeaveAsync(CancellationToken cancellationToken)
    {
        await Consumer.RevokeAsync(Consumer.OwnedPartitions(), lost: false).ConfigureAwait(false);
        if (_memberId.Length == 0 || Options.GroupInstanceId is not null)
        {
            return; // static members keep their place until the session times out
        }

        var request = new LeaveGroupRequest { GroupId = GroupId, MemberId = _memberId };
        request.Members.Add(new LeaveGroupRequest.MemberIdentity { MemberId = _memberId, GroupInstanceId = null, Reason = "the consumer is closing" });
        try
        {
            await Cluster.SendToCoordinatorAsync<LeaveGroupResponse>(GroupId, ApiKey.LeaveGroup, request, null, cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaException)
        {
            // The session timeout removes the member anyway.
        }
    }
}

/// <summary>The server-side protocol of KIP-848: the broker assigns; the member reconciles and acknowledges.</summary>
internal sealed class ServerSideMembership : GroupMembership
{
    private readonly string _memberId = Guid.NewGuid().ToString("N");
    private int _epoch;
    private bool _sendOwned = true;
    private TimeSpan _interval;
    private List<(Guid TopicId, List<int> Partitions)>? _pendingTarget;

    public ServerSideMembership(KafkaConsumer consumer, ConsumerOptions options, string groupId)
        : base(consumer, options, groupId) => _interval = options.HeartbeatInterval;

    public override string MemberId => _memberId;

    public override (int GenerationOrEpoch, string MemberId) CommitIdentity => (_epoch, _memberId);

    protected override async Task StepAsync()
    {
        bool subscriptionChanged = TakeSubscriptionChange();
        IReadOnlyList<string> topics = Consumer.Subscription;
        ClusterSnapshot snapshot = await Cluster.MetadataAsync(topics, Options.AllowAutoCreateTopics, Stopping).ConfigureAwait(false);
        var request = new ConsumerGroupHeartbeatRequest
        {
            GroupId = GroupId,
            MemberId = _memberId,
            MemberEpoch = _epoch,
            InstanceId = Options.GroupInstanceId,
            RackId = null,
            RebalanceTimeoutMs = (int)Options.MaxPollInterval.TotalMilliseconds,
            SubscribedTopicNames = subscriptionChanged || _epoch == 0 ? [.. topics] : null,
            SubscribedTopicRegex = null,
            ServerAssignor = null,
            TopicPartitions = null,
        };
        if (_sendOwned || _epoch == 0)
        {
            request.TopicPartitions = [];
            var byTopic = new Dictionary<string, ConsumerGroupHeartbeatRequest.TopicPartitionsData>(StringComparer.Ordinal);
            foreach (TopicPartition tp in Consumer.OwnedPartitions())
            {
                if (!snapshot.Topics.TryGetValue(tp.Topic, out TopicInfo? info))
                {
                    continue;
                }

                if (!byTopic.TryGetValue(tp.Topic, out ConsumerGroupHeartbeatRequest.TopicPartitionsData? t))
                {
                    byTopic[tp.Topic] = t = new ConsumerGroupHeartbeatRequest.TopicPartitionsData { TopicId = info.Id };
                    request.TopicPartitions.Add(t);
                }

                t.Partitions.Add(tp.Partition);
            }
        }

        ConsumerGroupHeartbeatResponse response = await CoordinatorAsync<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, request).ConfigureAwait(false);
        var error = (ErrorCode)response.ErrorCode;
        if (error is ErrorCode.FencedMemberEpoch or ErrorCode.UnknownMemberId)
        {
            await Consumer.RevokeAsync(Consumer.OwnedPartitions(), lost: true).ConfigureAwait(false);
            _epoch = 0;
            _sendOwned = true;
            _pendingTarget = null;
            return;
        }

        if (error != ErrorCode.None)
        {
            throw new KafkaException(error, $"ConsumerGroupHeartbeat: {error} {response.ErrorMessage}");
        }

        _sendOwned = false;
        _epoch = response.MemberEpoch;
        if (response.HeartbeatIntervalMs > 0)
        {
            _interval = TimeSpan.FromMilliseconds(response.HeartbeatIntervalMs);
        }

        if (response.Assignment is { } assignment)
        {
            _pendingTarget = [];
            foreach (ConsumerGroupHeartbeatResponse.TopicPartitions t in assignment.TopicPartitions)
            {
                _pendingTarget.Add((t.TopicId, t.Partitions));
            }
        }

        if (_pendingTarget is not null && await ReconcileAsync(_pendingTarget).ConfigureAwait(false))
        {
            _pendingTarget = null;
            _sendOwned = true; // acknowledge the new assignment at once
            return;
        }

        await WaitAsync(_interval).ConfigureAwait(false);
    }

    /// <summary>Applies the target assignment; false when a topic id is not known yet (metadata is refreshed).</summary>
    private async Task<bool> ReconcileAsync(List<(Guid TopicId, List<int> Partitions)> target)
    {
        ClusterSnapshot snapshot = Cluster.Snapshot;
        var wanted = new HashSet<TopicPartition>();
        foreach ((Guid id, List<int> partitions) in target)
        {
            if (!snapshot.TopicNames.TryGetValue(id, out string? name))
            {
                await Cluster.RefreshAsync(Consumer.Subscription, Options.AllowAutoCreateTopics, Stopping).ConfigureAwait(false);
                return false;
            }

            foreach (int p in partitions)
            {
                wanted.Add(new TopicPartition(name, p));
            }
        }

        List<TopicPartition> owned = Consumer.OwnedPartitions();
        List<TopicPartition> revoked = Except(owned, wanted);
        await Consumer.RevokeAsync(revoked, lost: false).ConfigureAwait(false);
        Consumer.AddAssigned(Except([.. wanted], [.. owned]));
        return true;
    }

    protected override async Task LeaveAsync(CancellationToken cancellationToken)
    {
        await Consumer.RevokeAsync(Consumer.OwnedPartitions(), lost: false).ConfigureAwait(false);
        if (_epoch <= 0)
        {
            return;
        }

        try
        {
            await Cluster.SendToCoordinatorAsync<ConsumerGroupHeartbeatResponse>(GroupId, ApiKey.ConsumerGroupHeartbeat, new ConsumerGroupHeartbeatRequest
            {
                GroupId = GroupId,
                MemberId = _memberId,
                MemberEpoch = Options.GroupInstanceId is null ? -1 : -2,
                InstanceId = Options.GroupInstanceId,
                RebalanceTimeoutMs = (int)Options.MaxPollInterval.TotalMilliseconds,
                SubscribedTopicNames = null,
                TopicPartitions = null,
            }, null, cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaException)
        {
        }
    }
}
