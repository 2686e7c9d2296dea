using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// OffsetFetch (key 9), versions 1–9 (v8+: several groups per request). A partition without a commit
/// answers offset -1; topics null (v2+) means every partition the group committed.
/// </summary>
internal sealed class OffsetFetchHandler(OffsetManager groups, Cluster.GroupCoordinatorMap? coordinators = null) : RequestHandler<OffsetFetchRequest, OffsetFetchResponse>
{
    public override ApiKey Key => ApiKey.OffsetFetch;

    public override short MinVersion => 1;

    public override short MaxVersion => 9;

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
                if (coordinators?.Check(group.GroupId) is { } refused && refused != Protocol.ErrorCode.None)
                {
                    groupResponse.ErrorCode = (short)refused; // cluster mode: another broker coordinates it
                    continue;
                }

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
        else if (coordinators?.Check(fetch.GroupId) is { } refused && refused != Protocol.ErrorCode.None)
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

        return ValueTask.FromResult<OffsetFetchResponse?>(response);
    }
}
