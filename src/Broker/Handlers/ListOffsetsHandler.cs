using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Storage;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// ListOffsets (key 2), versions 1–7.
/// Behaviour: -2 earliest → log start offset; -1 latest → log end offset (= high watermark = last
/// stable offset on one node); -3 max timestamp (v7) → the batch holding the greatest timestamp;
/// t ≥ 0 → the first record whose timestamp ≥ t via the time index, or offset -1 when none is that
/// recent. Leader epoch 0 in v4+. Unknown partition → UNKNOWN_TOPIC_OR_PARTITION. A partition listed
/// more than once gets INVALID_REQUEST at every entry, as Kafka answers it.
/// </summary>
internal sealed class ListOffsetsHandler(TopicRegistry topics) : IRequestHandler
{
    private const long Latest = -1;
    private const long Earliest = -2;
    private const long MaxTimestamp = -3;

    public ApiKey Key => ApiKey.ListOffsets;

    public short MinVersion => 1;

    public short MaxVersion => 7;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var list = (ListOffsetsRequest)request;
        var response = new ListOffsetsResponse();
        HashSet<(string, int)>? repeated = Duplicates.Repeated(Keys(list));
        foreach (ListOffsetsRequest.ListOffsetsTopic topic in list.Topics)
        {
            var topicResponse = new ListOffsetsResponse.ListOffsetsTopicResponse { Name = topic.Name };
            response.Topics.Add(topicResponse);
            foreach (ListOffsetsRequest.ListOffsetsPartition partition in topic.Partitions)
            {
                var result = new ListOffsetsResponse.ListOffsetsPartitionResponse { PartitionIndex = partition.PartitionIndex };
                topicResponse.Partitions.Add(result);
                if (repeated is not null && repeated.Contains((topic.Name, partition.PartitionIndex)))
                {
                    result.ErrorCode = (short)ErrorCode.InvalidRequest;
                    result.Offset = result.Timestamp = -1;
                    continue;
                }

                PartitionLog? log = topics.ReadablePartition(topic.Name, partition.PartitionIndex);
                if (log is null)
                {
                    result.ErrorCode = (short)ErrorCode.UnknownTopicOrPartition;
                    continue;
                }

                result.LeaderEpoch = ClusterInfo.LeaderEpoch;
                (long offset, long timestamp) = partition.Timestamp switch
                {
                    Latest => (log.LogEndOffset, -1L),
                    Earliest => (log.LogStartOffset, -1L),
                    MaxTimestamp => log.MaxTimestamp() ?? (-1L, -1L),
                    < 0 => (-1L, -1L),
                    _ => log.OffsetForTimestamp(partition.Timestamp) ?? (-1L, -1L),
                };
                if (partition.Timestamp < MaxTimestamp)
                {
                    result.ErrorCode = (short)ErrorCode.InvalidRequest; // -4/-5 are tiered-storage specs (v8+, not advertised)
                }

                result.Offset = offset;
                result.Timestamp = timestamp;
            }
        }

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }

    private static IEnumerable<(string, int)> Keys(ListOffsetsRequest list)
    {
        foreach (ListOffsetsRequest.ListOffsetsTopic topic in list.Topics)
        {
            foreach (ListOffsetsRequest.ListOffsetsPartition partition in topic.Partitions)
            {
                yield return (topic.Name, partition.PartitionIndex);
            }
        }
    }
}
