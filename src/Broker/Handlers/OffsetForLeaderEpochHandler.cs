using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Replication;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using LogBroker.Storage;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// OffsetForLeaderEpoch (key 23), versions 0–4 (as Kafka 3.9 serves them). For each partition: where the asked
/// leader epoch ends in this leader's log, from the leader-epoch cache (<see cref="PartitionLog.EndOffsetForEpoch"/>):
/// the start of the next epoch, or the log end offset for the latest; for an unknown epoch, the largest one below it;
/// (-1, -1) when there is none. A follower truncates there (KIP-101/279); a consumer checks its position (KIP-320).
/// Cluster mode: only the leader answers (else NOT_LEADER_OR_FOLLOWER), and a current_leader_epoch (v2+) older than
/// the leader's is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH. Unknown partition:
/// UNKNOWN_TOPIC_OR_PARTITION; a topic the principal may not Describe: TOPIC_AUTHORIZATION_FAILED.
/// </summary>
internal sealed class OffsetForLeaderEpochHandler(TopicRegistry topics, ReplicaManager? replicas = null, Authorizer? authorizer = null)
    : RequestHandler<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse>(ApiKey.OffsetForLeaderEpoch, 0, 4)
{
    public override ValueTask<OffsetForLeaderEpochResponse?> HandleAsync(RequestContext context, OffsetForLeaderEpochRequest request)
    {
        var response = new OffsetForLeaderEpochResponse();

        // A follower's request (v3+ replica id set) needs ClusterAction on the cluster, as in Kafka; a consumer's, Describe on the topic.
        bool follower = context.Version >= 3 && request.ReplicaId >= 0;
        ErrorCode? notBroker = follower && authorizer is { Enabled: true } && !authorizer.AuthorizeCluster(context, AclOperation.ClusterAction)
            ? ErrorCode.ClusterAuthorizationFailed : null;
        foreach (OffsetForLeaderEpochRequest.OffsetForLeaderTopic topic in request.Topics)
        {
            var topicResult = new OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult { Topic = topic.Topic };
            response.Topics.Add(topicResult);
            ErrorCode? denied = follower ? notBroker : authorizer?.Check(context, AclOperation.Describe, AclResourceType.Topic, topic.Topic);
            foreach (OffsetForLeaderEpochRequest.OffsetForLeaderPartition partition in topic.Partitions)
            {
                var result = new OffsetForLeaderEpochResponse.EpochEndOffset { Partition = partition.Partition };
                topicResult.Partitions.Add(result);
                PartitionLog? log = topics.Readable(topic.Topic) is null ? null : topics.ReadablePartition(topic.Topic, partition.Partition);
                ErrorCode error = denied ?? (log is null ? ErrorCode.UnknownTopicOrPartition : ErrorCode.None);
                if (error == ErrorCode.None && replicas?.Find(topic.Topic, partition.Partition) is { } replica)
                {
                    error = replicas.CheckLeader(replica, context.Version >= 2 ? partition.CurrentLeaderEpoch : -1);
                }

                if (error != ErrorCode.None || log is null || log.IsUnreadable)
                {
                    result.ErrorCode = (short)(error != ErrorCode.None ? error : ErrorCode.KafkaStorageError);
                    continue;
                }

                (int epoch, long end) = log.EndOffsetForEpoch(partition.LeaderEpoch);
                result.LeaderEpoch = epoch;
                result.EndOffset = end;
            }
        }

        return ValueTask.FromResult<OffsetForLeaderEpochResponse?>(response);
    }
}
