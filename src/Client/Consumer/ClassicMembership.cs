using LogBroker.Client.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace LogBroker.Client.Consumer;

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

    public ClassicMembership(IAssignmentHost host, Cluster cluster, ILogger logger, ConsumerOptions options, string groupId)
        : base(host, cluster, logger, options, groupId)
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
        await Host.RevokeAsync(Host.OwnedPartitions(), lost: true).ConfigureAwait(false);
        _generation = -1;
        if (resetMemberId)
        {
            _memberId = "";
        }

        _joined = false;
    }

    private async Task JoinAsync()
    {
        IReadOnlyList<string> topics = Host.Subscription;
        if (_protocol is { IsCooperative: false } || !_joined && _protocol is null)
        {
            // Eager protocols give everything up before joining (with a commit when auto-committing).
            await Host.RevokeAsync(Host.OwnedPartitions(), lost: false).ConfigureAwait(false);
        }

        if (topics.Count > 0)
        {
            await Cluster.RefreshAsync(topics, Options.AllowAutoCreateTopics, Stopping).ConfigureAwait(false);
        }

        List<TopicPartition> owned = Host.OwnedPartitions();
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
        List<TopicPartition> current = Host.OwnedPartitions();
        List<TopicPartition> revoked = Except(current, assignedSet);
        List<TopicPartition> added = Except(assigned, [.. current]);
        _joined = true;
        if (revoked.Count > 0)
        {
            await Host.RevokeAsync(revoked, lost: false).ConfigureAwait(false);
            if (_protocol.IsCooperative)
            {
                // Cooperative: the revoked partitions go to their new owner in a follow-up rebalance.
                _joined = false;
            }
        }

        Host.AddAssigned(added);
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
        await Host.RevokeAsync(Host.OwnedPartitions(), lost: false).ConfigureAwait(false);
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
