using LogBroker.Client.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace LogBroker.Client.Consumer;

/// <summary>The server-side protocol of KIP-848: the broker assigns; the member reconciles and acknowledges.</summary>
internal sealed class ServerSideMembership : GroupMembership
{
    private readonly string _memberId = Guid.NewGuid().ToString("N");
    private int _epoch;
    private bool _sendOwned = true;
    private TimeSpan _interval;
    private List<(Guid TopicId, List<int> Partitions)>? _pendingTarget;

    public ServerSideMembership(IAssignmentHost host, Cluster cluster, ILogger logger, ConsumerOptions options, string groupId)
        : base(host, cluster, logger, options, groupId) => _interval = options.HeartbeatInterval;

    public override string MemberId => _memberId;

    public override (int GenerationOrEpoch, string MemberId) CommitIdentity => (_epoch, _memberId);

    protected override async Task StepAsync()
    {
        bool subscriptionChanged = TakeSubscriptionChange();
        IReadOnlyList<string> topics = Host.Subscription;
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
            foreach (TopicPartition tp in Host.OwnedPartitions())
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
            await Host.RevokeAsync(Host.OwnedPartitions(), lost: true).ConfigureAwait(false);
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
                await Cluster.RefreshAsync(Host.Subscription, Options.AllowAutoCreateTopics, Stopping).ConfigureAwait(false);
                return false;
            }

            foreach (int p in partitions)
            {
                wanted.Add(new TopicPartition(name, p));
            }
        }

        List<TopicPartition> owned = Host.OwnedPartitions();
        List<TopicPartition> revoked = Except(owned, wanted);
        await Host.RevokeAsync(revoked, lost: false).ConfigureAwait(false);
        Host.AddAssigned(Except([.. wanted], [.. owned]));
        return true;
    }

    protected override async Task LeaveAsync(CancellationToken cancellationToken)
    {
        await Host.RevokeAsync(Host.OwnedPartitions(), lost: false).ConfigureAwait(false);
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
