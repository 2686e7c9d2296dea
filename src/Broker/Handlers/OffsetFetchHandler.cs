using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// OffsetFetch (key 9), versions 0–9 (v8+: several groups per request). A partition without a commit
/// answers offset -1; topics null (v2+) means every partition the group committed.
/// </summary>
/// <remarks>
/// v0 reads the same offset log as v1 (Kafka's ZooKeeper mode read v0 from ZooKeeper, where only v0
/// commits were; here every version's commits are in one place, see <see cref="OffsetCommitHandler"/>).
/// </remarks>
internal sealed class OffsetFetchHandler(OffsetManager groups, Authorizer? authorizer = null, Cluster.GroupCoordinatorMap? coordinators = null) : RequestHandler<OffsetFetchRequest, OffsetFetchResponse>(ApiKey.OffsetFetch, 0, 9)
{
    public override ValueTask<OffsetFetchResponse?> HandleAsync(RequestContext context, OffsetFetchRequest fetch)
    {
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
                if (authorizer?.Check(context, AclOperation.Describe, AclResourceType.Group, group.GroupId) is { } denied)
                {
                    groupResponse.ErrorCode = (short)denied;
                    continue;
                }

                if (coordinators?.Refusal(group.GroupId) is { } refused)
                {
                    groupResponse.ErrorCode = (short)refused; // cluster mode: another broker coordinates it
                    continue;
                }

                var partitions = group.Topics?.SelectMany(t => t.PartitionIndexes.Select(p => (t.Name, p)));
                foreach (var byTopic in Fetch(context, group.GroupId, partitions).GroupBy(r => r.Topic))
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
                            ErrorCode = (short)r.Error,
                        })],
                    });
                }
            }
        }
        else if (context.Version >= 2 && authorizer?.Check(context, AclOperation.Describe, AclResourceType.Group, fetch.GroupId) is { } denied)
        {
            response.ErrorCode = (short)denied;
        }
        else if (coordinators?.Refusal(fetch.GroupId) is { } refused)
        {
            // Cluster mode: another broker coordinates the group (v1 has no top-level error: per partition).
            response.ErrorCode = (short)refused;
            foreach (OffsetFetchRequest.OffsetFetchRequestTopic topic in fetch.Topics ?? [])
            {
                response.Topics.Add(new OffsetFetchResponse.OffsetFetchResponseTopic
                {
                    Name = topic.Name,
                    Partitions = [.. topic.PartitionIndexes.Select(p => new OffsetFetchResponse.OffsetFetchResponsePartition { PartitionIndex = p, CommittedOffset = -1, ErrorCode = (short)refused })],
                });
            }
        }
        else
        {
            var partitions = fetch.Topics?.SelectMany(t => t.PartitionIndexes.Select(p => (t.Name, p)));
            foreach (var byTopic in Fetch(context, fetch.GroupId, partitions).GroupBy(r => r.Topic))
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
                        ErrorCode = (short)r.Error,
                    })],
                });
            }
        }

        return ValueTask.FromResult<OffsetFetchResponse?>(response);
    }

    /// <summary>
    /// The group's offsets as Kafka shows them under ACLs: Describe on the group (v1, which has no top-level
    /// error, gets GROUP_AUTHORIZATION_FAILED per partition), and topics the principal may not Describe hidden
    /// when every offset is asked for, answered TOPIC_AUTHORIZATION_FAILED (offset -1) when named.
    /// </summary>
    private List<(string Topic, int Partition, CommittedOffset? Offset, ErrorCode Error)> Fetch(RequestContext context, string groupId, IEnumerable<(string Topic, int Partition)>? partitions)
    {
        var answer = new List<(string Topic, int Partition, CommittedOffset? Offset, ErrorCode Error)>();
        if (context.Version < 2 && authorizer?.Check(context, AclOperation.Describe, AclResourceType.Group, groupId) is { } groupDenied)
        {
            foreach ((string topic, int partition) in partitions ?? [])
            {
                answer.Add((topic, partition, null, groupDenied));
            }

            return answer;
        }

        List<(string Topic, int Partition)>? refused = null;
        if (partitions is not null && authorizer is { Enabled: true })
        {
            var allowed = new List<(string Topic, int Partition)>();
            foreach ((string topic, int partition) in partitions)
            {
                (authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Topic, topic) ? allowed : refused ??= []).Add((topic, partition));
            }

            partitions = allowed;
        }

        foreach ((string topic, int partition, CommittedOffset? offset) in groups.Fetch(groupId, partitions))
        {
            if (partitions is not null || authorizer is null || authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Topic, topic))
            {
                answer.Add((topic, partition, offset, ErrorCode.None));
            }
        }

        foreach ((string topic, int partition) in refused ?? [])
        {
            answer.Add((topic, partition, null, ErrorCode.TopicAuthorizationFailed));
        }

        return answer;
    }
}
