using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// FindCoordinator (key 10), versions 0–6: this node coordinates every group (key type 0); v4 answers per
/// key. For a transactional id (key type 1) it names this node too, so that the client's next request,
/// InitProducerId with that id, gets the refusal (UNSUPPORTED_VERSION): librdkafka treats every
/// FindCoordinator error but the two authorization ones as "retry", so an error here would only ever
/// surface as a timeout, while the InitProducerId error is reported ("Failed to initialize Producer
/// ID: Broker: API version not supported"; the Java client fails at once with it). Share groups (key type 2, v6+)
/// get COORDINATOR_NOT_AVAILABLE, as Kafka 3.9 answers them; any other key type, or type 2 before v6,
/// INVALID_REQUEST.
/// </summary>
internal sealed class FindCoordinatorHandler(ClusterInfo cluster) : IRequestHandler
{
    public ApiKey Key => ApiKey.FindCoordinator;

    public short MinVersion => 0;

    public short MaxVersion => 6;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var find = (FindCoordinatorRequest)request;
        (ErrorCode error, string? message) = find.KeyType switch
        {
            0 => (ErrorCode.None, null),
            1 => (ErrorCode.None, null), // transactions are refused by InitProducerId, see above
            2 when context.Version >= 6 => (ErrorCode.CoordinatorNotAvailable, "Share groups are not supported by LogBroker."),
            _ => (ErrorCode.InvalidRequest, (string?)$"Unknown coordinator key type {find.KeyType}."),
        };
        bool found = error == ErrorCode.None;
        var response = new FindCoordinatorResponse
        {
            ErrorCode = (short)error,
            ErrorMessage = message,
            NodeId = found ? cluster.NodeId : -1,
            Host = found ? cluster.Host : "",
            Port = found ? cluster.Port : -1,
        };
        foreach (string key in find.CoordinatorKeys)
        {
            response.Coordinators.Add(new FindCoordinatorResponse.Coordinator
            {
                Key = key,
                NodeId = response.NodeId,
                Host = response.Host,
                Port = response.Port,
                ErrorCode = (short)error,
                ErrorMessage = message,
            });
        }

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }
}

/// <summary>
/// JoinGroup (key 11), versions 0–6 (v6 is v5, flexible; 7–9 not yet: protocol type, reason, skip_assignment). The answer waits for the join phase to end (the connection keeps
/// serving other requests in order behind it). v4+ without an instance id gets MEMBER_ID_REQUIRED
/// first (KIP-394); v5 static members are supported.
/// </summary>
internal sealed class JoinGroupHandler(GroupCoordinator groups) : IRequestHandler
{
    public ApiKey Key => ApiKey.JoinGroup;

    public short MinVersion => 0;

    public short MaxVersion => 6;

    public async ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        JoinGroupResponse response = await groups.JoinAsync((JoinGroupRequest)request, context.Version, context.ClientId ?? "", context.Connection).ConfigureAwait(false);
        response.ProtocolName ??= ""; // nullable only from v7 (not served)
        return response;
    }
}

/// <summary>SyncGroup (key 14), versions 0–4 (v4 is v3, flexible; v5 not yet: it checks protocol type and name): followers wait for the leader's assignments.</summary>
internal sealed class SyncGroupHandler(GroupCoordinator groups) : IRequestHandler
{
    public ApiKey Key => ApiKey.SyncGroup;

    public short MinVersion => 0;

    public short MaxVersion => 4;

    public async ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request) =>
        await groups.SyncAsync((SyncGroupRequest)request).ConfigureAwait(false);
}

/// <summary>Heartbeat (key 12), versions 0–4 (v4 is v3, flexible).</summary>
internal sealed class HeartbeatHandler(GroupCoordinator groups) : IRequestHandler
{
    public ApiKey Key => ApiKey.Heartbeat;

    public short MinVersion => 0;

    public short MaxVersion => 4;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var heartbeat = (HeartbeatRequest)request;
        ErrorCode error = groups.Heartbeat(heartbeat.GroupId, heartbeat.MemberId, heartbeat.GroupInstanceId, heartbeat.GenerationId);
        return ValueTask.FromResult<IKafkaMessage?>(new HeartbeatResponse { ErrorCode = (short)error });
    }
}

/// <summary>LeaveGroup (key 13), versions 0–5 (v3: several members, per-member errors; v4 flexible; v5 a reason per member, informational).</summary>
internal sealed class LeaveGroupHandler(GroupCoordinator groups) : IRequestHandler
{
    public ApiKey Key => ApiKey.LeaveGroup;

    public short MinVersion => 0;

    public short MaxVersion => 5;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var leave = (LeaveGroupRequest)request;
        IEnumerable<(string, string?)> leaving = context.Version >= 3
            ? leave.Members.Select(m => (m.MemberId, m.GroupInstanceId))
            : [(leave.MemberId, null)];
        var results = groups.Leave(leave.GroupId, leaving);
        var response = new LeaveGroupResponse();
        if (context.Version >= 3)
        {
            foreach ((string memberId, string? instanceId, ErrorCode error) in results)
            {
                response.Members.Add(new LeaveGroupResponse.MemberResponse { MemberId = memberId, GroupInstanceId = instanceId, ErrorCode = (short)error });
            }
        }
        else
        {
            response.ErrorCode = (short)results[0].Error;
        }

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }
}

/// <summary>
/// OffsetCommit (key 8), versions 2–9, for classic and server-side (KIP-848) groups alike: the
/// coordinator checks the committer against whichever protocol owns the group id. Generation -1 with
/// no member id commits for a standalone (assign()) consumer into an empty group. Metadata over 4096
/// bytes → OFFSET_METADATA_TOO_LARGE; a topic name no topic can have (over 249 characters) →
/// UNKNOWN_TOPIC_OR_PARTITION. A partition named twice is stored once (the last wins).
/// </summary>
/// <remarks>
/// An acknowledged commit is in the offset log. With <see cref="BrokerOptions.FlushOnAcksAll"/> on
/// (default) the answer waits until the offset log is fsynced (shared with concurrent commits, off the
/// read loop), so an acknowledged commit survives power loss; off, it survives a broker crash.
/// </remarks>
internal sealed class OffsetCommitHandler(GroupCoordinator groups, BrokerOptions options, TimeProvider time) : IRequestHandler
{
    private const int MaxMetadataBytes = 4096;

    public ApiKey Key => ApiKey.OffsetCommit;

    public short MinVersion => 2;

    public short MaxVersion => 9;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var commit = (OffsetCommitRequest)request;
        long now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var valid = new List<(string, int, CommittedOffset)>();
        var index = new Dictionary<(string, int), int>();
        var response = new OffsetCommitResponse();
        foreach (OffsetCommitRequest.OffsetCommitRequestTopic topic in commit.Topics)
        {
            var topicResponse = new OffsetCommitResponse.OffsetCommitResponseTopic { Name = topic.Name };
            response.Topics.Add(topicResponse);
            bool badTopic = topic.Name.Length > Storage.TopicPartition.MaxTopicLength;
            foreach (OffsetCommitRequest.OffsetCommitRequestPartition partition in topic.Partitions)
            {
                ErrorCode error = badTopic ? ErrorCode.UnknownTopicOrPartition
                    : partition.CommittedMetadata is { } m && System.Text.Encoding.UTF8.GetByteCount(m) > MaxMetadataBytes ? ErrorCode.OffsetMetadataTooLarge
                    : ErrorCode.None;
                topicResponse.Partitions.Add(new OffsetCommitResponse.OffsetCommitResponsePartition
                {
                    PartitionIndex = partition.PartitionIndex,
                    ErrorCode = (short)error,
                });
                if (error == ErrorCode.None)
                {
                    var entry = (topic.Name, partition.PartitionIndex,
                        new CommittedOffset(partition.CommittedOffset, partition.CommittedLeaderEpoch, partition.CommittedMetadata, now));
                    if (index.TryGetValue((topic.Name, partition.PartitionIndex), out int at))
                    {
                        valid[at] = entry; // named twice: the last wins, stored once
                    }
                    else
                    {
                        index[(topic.Name, partition.PartitionIndex)] = valid.Count;
                        valid.Add(entry);
                    }
                }
            }
        }

        ErrorCode result = groups.Commit(commit.GroupId, commit.MemberId, commit.GroupInstanceId, commit.GenerationIdOrMemberEpoch, valid, out long position);
        if (result != ErrorCode.None)
        {
            SetAll(response, result);
            return ValueTask.FromResult<IKafkaMessage?>(response);
        }

        if (valid.Count == 0 || !options.FlushOnAcksAll)
        {
            return ValueTask.FromResult<IKafkaMessage?>(response);
        }

        Task durable = groups.WhenDurableAsync(position);
        return durable.IsCompletedSuccessfully ? ValueTask.FromResult<IKafkaMessage?>(response) : AnswerWhenDurableAsync(durable, response);
    }

    private static async ValueTask<IKafkaMessage?> AnswerWhenDurableAsync(Task durable, OffsetCommitResponse response)
    {
        try
        {
            await durable.ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // Stored but not known to be on disk: the client retries (Kafka's mapping of a storage error).
            SetAll(response, ErrorCode.NotCoordinator);
        }

        return response;
    }

    private static void SetAll(OffsetCommitResponse response, ErrorCode error)
    {
        foreach (OffsetCommitResponse.OffsetCommitResponseTopic topic in response.Topics)
        {
            foreach (OffsetCommitResponse.OffsetCommitResponsePartition p in topic.Partitions)
            {
                if (p.ErrorCode == 0)
                {
                    p.ErrorCode = (short)error;
                }
            }
        }
    }
}

/// <summary>
/// OffsetFetch (key 9), versions 1–9 (v8+: several groups per request). A partition without a commit
/// answers offset -1; topics null (v2+) means every partition the group committed.
/// </summary>
internal sealed class OffsetFetchHandler(GroupCoordinator groups) : IRequestHandler
{
    public ApiKey Key => ApiKey.OffsetFetch;

    public short MinVersion => 1;

    public short MaxVersion => 9;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var fetch = (OffsetFetchRequest)request;
        var response = new OffsetFetchResponse();
        if (context.Version >= 8)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (OffsetFetchRequest.OffsetFetchRequestGroup group in fetch.Groups)
            {
                if (!seen.Add(group.GroupId))
                {
                    continue; // a group asked for twice is answered once
                }

                var groupResponse = new OffsetFetchResponse.OffsetFetchResponseGroup { GroupId = group.GroupId };
                response.Groups.Add(groupResponse);
                var partitions = group.Topics?.SelectMany(t => t.PartitionIndexes.Select(p => (t.Name, p)));
                foreach (var byTopic in groups.Fetch(group.GroupId, partitions).GroupBy(r => r.Topic))
                {
                    groupResponse.Topics.Add(new OffsetFetchResponse.OffsetFetchResponseTopics
                    {
                        Name = byTopic.Key,
                        Partitions = [.. byTopic.Select(r => new OffsetFetchResponse.OffsetFetchResponsePartitions
                        {
                            PartitionIndex = r.Partition,
                            CommittedOffset = r.Offset?.Offset ?? -1,
                            CommittedLeaderEpoch = r.Offset?.LeaderEpoch ?? -1,
                            Metadata = r.Offset?.Metadata ?? "",
                        })],
                    });
                }
            }
        }
        else
        {
            var partitions = fetch.Topics?.SelectMany(t => t.PartitionIndexes.Select(p => (t.Name, p)));
            foreach (var byTopic in groups.Fetch(fetch.GroupId, partitions).GroupBy(r => r.Topic))
            {
                response.Topics.Add(new OffsetFetchResponse.OffsetFetchResponseTopic
                {
                    Name = byTopic.Key,
                    Partitions = [.. byTopic.Select(r => new OffsetFetchResponse.OffsetFetchResponsePartition
                    {
                        PartitionIndex = r.Partition,
                        CommittedOffset = r.Offset?.Offset ?? -1,
                        CommittedLeaderEpoch = r.Offset?.LeaderEpoch ?? -1,
                        Metadata = r.Offset?.Metadata ?? "",
                    })],
                });
            }
        }

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }
}

/// <summary>
/// ListGroups (key 16), versions 0–5: classic and server-side groups, each once, filtered by state (v4)
/// and type (v5: "classic", "consumer").
/// </summary>
internal sealed class ListGroupsHandler(GroupCoordinator groups) : IRequestHandler
{
    public ApiKey Key => ApiKey.ListGroups;

    public short MinVersion => 0;

    public short MaxVersion => 5;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var list = (ListGroupsRequest)request;
        var response = new ListGroupsResponse();
        foreach ((string id, string state, string protocolType, string type) in groups.List())
        {
            bool stateOk = list.StatesFilter.Count == 0 || list.StatesFilter.Contains(state, StringComparer.OrdinalIgnoreCase);
            bool typeOk = list.TypesFilter.Count == 0 || list.TypesFilter.Contains(type, StringComparer.OrdinalIgnoreCase);
            if (stateOk && typeOk)
            {
                response.Groups.Add(new ListGroupsResponse.ListedGroup { GroupId = id, ProtocolType = protocolType, GroupState = state, GroupType = type });
            }
        }

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }
}

/// <summary>
/// DescribeGroups (key 15), versions 0–5: state, protocol, and each member with its metadata and
/// assignment. A group id named twice is described once.
/// </summary>
internal sealed class DescribeGroupsHandler(GroupCoordinator groups) : IRequestHandler
{
    public ApiKey Key => ApiKey.DescribeGroups;

    public short MinVersion => 0;

    public short MaxVersion => 5;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var response = new DescribeGroupsResponse();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string id in ((DescribeGroupsRequest)request).Groups)
        {
            if (seen.Add(id))
            {
                response.Groups.Add(groups.Describe(id));
            }
        }

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }
}

/// <summary>DeleteGroups (key 42), versions 0–2: an empty group and its offsets go; a group with members gets NON_EMPTY_GROUP.</summary>
internal sealed class DeleteGroupsHandler(GroupCoordinator groups) : IRequestHandler
{
    public ApiKey Key => ApiKey.DeleteGroups;

    public short MinVersion => 0;

    public short MaxVersion => 2;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var delete = (DeleteGroupsRequest)request;
        var response = new DeleteGroupsResponse();
        foreach (string id in delete.GroupsNames)
        {
            response.Results.Add(new DeleteGroupsResponse.DeletableGroupResult { GroupId = id, ErrorCode = (short)groups.Delete(id) });
        }

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }
}

/// <summary>
/// ConsumerGroupHeartbeat (key 68), versions 0–1: the server-side group protocol (KIP-848) —
/// join (epoch 0), heartbeat, leave (epoch -1/-2), subscriptions by names or regex (v1), and the
/// broker's own assignment reconciled member by member (<see cref="ConsumerGroupCoordinator"/>).
/// </summary>
internal sealed class ConsumerGroupHeartbeatHandler(ConsumerGroupCoordinator groups) : IRequestHandler
{
    public ApiKey Key => ApiKey.ConsumerGroupHeartbeat;

    public short MinVersion => 0;

    public short MaxVersion => 1;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request) =>
        ValueTask.FromResult<IKafkaMessage?>(groups.Heartbeat((ConsumerGroupHeartbeatRequest)request, context.ClientId ?? "", context.Connection));
}

/// <summary>ConsumerGroupDescribe (key 69), version 0: server-side groups with members, epochs, assignments and targets.</summary>
internal sealed class ConsumerGroupDescribeHandler(ConsumerGroupCoordinator groups) : IRequestHandler
{
    public ApiKey Key => ApiKey.ConsumerGroupDescribe;

    public short MinVersion => 0;

    public short MaxVersion => 0;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var response = new ConsumerGroupDescribeResponse();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string id in ((ConsumerGroupDescribeRequest)request).GroupIds)
        {
            if (seen.Add(id))
            {
                response.Groups.Add(groups.Describe(id)); // a group named twice is described once
            }
        }

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }
}

/// <summary>
/// OffsetDelete (key 47), version 0: removes a group's committed offsets for some partitions; refused
/// (GROUP_SUBSCRIBED_TO_TOPIC) for topics the group's members are subscribed to; GROUP_ID_NOT_FOUND for
/// an unknown group.
/// </summary>
internal sealed class OffsetDeleteHandler(GroupCoordinator groups) : IRequestHandler
{
    public ApiKey Key => ApiKey.OffsetDelete;

    public short MinVersion => 0;

    public short MaxVersion => 0;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var delete = (OffsetDeleteRequest)request;
        (ErrorCode error, var partitions) = groups.DeleteOffsets(delete.GroupId,
            [.. delete.Topics.SelectMany(t => t.Partitions.Select(p => (t.Name, p)))]);
        var response = new OffsetDeleteResponse { ErrorCode = (short)error };
        foreach (var byTopic in partitions.GroupBy(p => p.Topic))
        {
            response.Topics.Add(new OffsetDeleteResponse.OffsetDeleteResponseTopic
            {
                Name = byTopic.Key,
                Partitions = [.. byTopic.Select(p => (p.Partition, (short)p.Error))],
            });
        }

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }
}
