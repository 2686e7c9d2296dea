using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using LogBroker.Storage;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// DeleteRecords (key 21), versions 0–2.
/// Behaviour: moves the partition's log start offset to the given offset (-1 = the high watermark);
/// whole segments below it are deleted at once; the new low watermark is answered. Past the high watermark →
/// OFFSET_OUT_OF_RANGE (in single-node mode the high watermark is the log end). A replicated partition (cluster mode)
/// is answered by its leader only, NOT_LEADER_OR_FOLLOWER elsewhere, so a follower's log never starts where its
/// leader's does not; the followers follow the leader's new log start as they fetch.
/// </summary>
internal sealed class DeleteRecordsHandler(TopicRegistry topics, LogManager logs, Authorizer? authorizer = null, Replication.ReplicaManager? replicas = null) : RequestHandler<DeleteRecordsRequest, DeleteRecordsResponse>(ApiKey.DeleteRecords, 0, 2)
{
    public override ValueTask<DeleteRecordsResponse?> HandleAsync(RequestContext context, DeleteRecordsRequest delete)
    {
        var response = new DeleteRecordsResponse();
        bool changed = false;
        HashSet<(string, int)>? repeated = Duplicates.Repeated(Keys(delete));
        foreach (DeleteRecordsRequest.DeleteRecordsTopic topic in delete.Topics)
        {
            var topicResult = new DeleteRecordsResponse.DeleteRecordsTopicResult { Name = topic.Name };
            response.Topics.Add(topicResult);
            ErrorCode? denied = authorizer?.Check(context, AclOperation.Delete, AclResourceType.Topic, topic.Name);
            foreach (DeleteRecordsRequest.DeleteRecordsPartition partition in topic.Partitions)
            {
                var result = new DeleteRecordsResponse.DeleteRecordsPartitionResult { PartitionIndex = partition.PartitionIndex, LowWatermark = -1 };
                topicResult.Partitions.Add(result);
                PartitionLog? log = topics.Partition(topic.Name, partition.PartitionIndex);
                if (repeated is not null && repeated.Contains((topic.Name, partition.PartitionIndex)))
                {
                    result.ErrorCode = (short)ErrorCode.InvalidRequest;
                }
                else if (denied is { } refused)
                {
                    result.ErrorCode = (short)refused;
                }
                else if (log is null)
                {
                    result.ErrorCode = (short)ErrorCode.UnknownTopicOrPartition;
                }
                else if (replicas?.Find(topic.Name, partition.PartitionIndex) is { } replica && replicas.CheckLeader(replica, -1) is not ErrorCode.None and var notLeader)
                {
                    result.ErrorCode = (short)notLeader;
                }
                else if (partition.Offset > log.HighWatermark || partition.Offset < -1)
                {
                    result.ErrorCode = (short)ErrorCode.OffsetOutOfRange;
                }
                else
                {
                    try
                    {
                        long before = log.LogStartOffset;
                        result.LowWatermark = log.DeleteRecordsBefore(partition.Offset == -1 ? log.HighWatermark : partition.Offset);
                        changed |= result.LowWatermark != before; // nothing moved: no checkpoint to rewrite
                    }
                    catch (Exception e) when (e is IOException or ObjectDisposedException)
                    {
                        result.ErrorCode = (short)ErrorCode.KafkaStorageError;
                    }
                }
            }
        }

        if (changed)
        {
            logs.Checkpoint(); // the new log start offsets survive a crash right away
        }

        return ValueTask.FromResult<DeleteRecordsResponse?>(response);
    }

    private static IEnumerable<(string, int)> Keys(DeleteRecordsRequest delete)
    {
        foreach (DeleteRecordsRequest.DeleteRecordsTopic topic in delete.Topics)
        {
            foreach (DeleteRecordsRequest.DeleteRecordsPartition partition in topic.Partitions)
            {
                yield return (topic.Name, partition.PartitionIndex);
            }
        }
    }
}
