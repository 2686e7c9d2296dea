using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Client.Network;

/// <summary>Requests sent to partition leaders, shared by the admin client and the consumer.</summary>
internal static class PartitionRequests
{
    /// <summary>
    /// The partitions grouped by leader, from freshly fetched metadata; throws UNKNOWN_TOPIC_OR_PARTITION
    /// (or the topic's error) for a topic or partition that does not exist.
    /// </summary>
    public static async Task<List<(int Leader, List<TopicPartition> Partitions)>> ByLeaderAsync(this Cluster cluster, IEnumerable<TopicPartition> partitions, CancellationToken cancellationToken)
    {
        var topics = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<TopicPartition>();
        foreach (TopicPartition tp in partitions)
        {
            topics.Add(tp.Topic);
            list.Add(tp);
        }

        ClusterSnapshot snapshot = await cluster.RefreshAsync(topics, false, cancellationToken).ConfigureAwait(false);
        var byLeader = new Dictionary<int, List<TopicPartition>>();
        foreach (TopicPartition tp in list)
        {
            if (!snapshot.Topics.TryGetValue(tp.Topic, out TopicInfo? info) || info.Error != ErrorCode.None)
            {
                ErrorCode error = info?.Error ?? ErrorCode.UnknownTopicOrPartition;
                throw new KafkaException(error == ErrorCode.None ? ErrorCode.UnknownTopicOrPartition : error, $"Topic '{tp.Topic}': {error}.");
            }

            if (tp.Partition < 0 || tp.Partition >= info.PartitionCount)
            {
                throw new KafkaException(ErrorCode.UnknownTopicOrPartition, $"Topic '{tp.Topic}' has no partition {tp.Partition}.");
            }

            int leader = info.Leaders[tp.Partition];
            if (!byLeader.TryGetValue(leader, out List<TopicPartition>? group))
            {
                byLeader[leader] = group = [];
            }

            group.Add(tp);
        }

        var result = new List<(int, List<TopicPartition>)>(byLeader.Count);
        foreach (KeyValuePair<int, List<TopicPartition>> kv in byLeader)
        {
            result.Add((kv.Key, kv.Value));
        }

        return result;
    }

    /// <summary>
    /// ListOffsets at each partition's leader: -2 earliest, -1 latest, else the first offset whose timestamp
    /// is at or after <paramref name="timestamp"/>. Per-partition errors are returned, not thrown.
    /// </summary>
    public static async Task<List<(TopicPartition Partition, ErrorCode Error, long Offset, long Timestamp)>> ListOffsetsAsync(
        this Cluster cluster, IEnumerable<TopicPartition> partitions, long timestamp, CancellationToken cancellationToken)
    {
        var result = new List<(TopicPartition, ErrorCode, long, long)>();
        foreach ((int leader, List<TopicPartition> group) in await cluster.ByLeaderAsync(partitions, cancellationToken).ConfigureAwait(false))
        {
            var request = new ListOffsetsRequest { ReplicaId = -1 };
            foreach (OffsetFetchRequest.OffsetFetchRequestTopic t in GroupByTopic(group))
            {
                var topic = new ListOffsetsRequest.ListOffsetsTopic { Name = t.Name };
                foreach (int p in t.PartitionIndexes)
                {
                    topic.Partitions.Add(new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = p, Timestamp = timestamp, CurrentLeaderEpoch = -1, MaxNumOffsets = 1 });
                }

                request.Topics.Add(topic);
            }

            ListOffsetsResponse response = await cluster.SendAsync<ListOffsetsResponse>(leader, ApiKey.ListOffsets, _ => request, cancellationToken).ConfigureAwait(false);
            foreach (ListOffsetsResponse.ListOffsetsTopicResponse t in response.Topics)
            {
                foreach (ListOffsetsResponse.ListOffsetsPartitionResponse p in t.Partitions)
                {
                    result.Add((new TopicPartition(t.Name, p.PartitionIndex), (ErrorCode)p.ErrorCode, p.Offset, p.Timestamp));
                }
            }
        }

        return result;
    }

    /// <summary>Partitions grouped by topic, in the shape OffsetFetch (and, by copying, other requests) take.</summary>
    public static List<OffsetFetchRequest.OffsetFetchRequestTopic> GroupByTopic(IEnumerable<TopicPartition> partitions)
    {
        var byTopic = new Dictionary<string, OffsetFetchRequest.OffsetFetchRequestTopic>(StringComparer.Ordinal);
        var list = new List<OffsetFetchRequest.OffsetFetchRequestTopic>();
        foreach (TopicPartition tp in partitions)
        {
            if (!byTopic.TryGetValue(tp.Topic, out OffsetFetchRequest.OffsetFetchRequestTopic? t))
            {
                byTopic[tp.Topic] = t = new OffsetFetchRequest.OffsetFetchRequestTopic { Name = tp.Topic };
                list.Add(t);
            }

            t.PartitionIndexes.Add(tp.Partition);
        }

        return list;
    }
}
