using LogBroker.Protocol.Messages;

namespace LogBroker.Client.Consumer;

/// <summary>Building OffsetCommit requests and reading their results.</summary>
internal static class OffsetCommits
{
    public static OffsetCommitRequest Request(string group, int generationOrEpoch, string memberId, string? instanceId, IEnumerable<TopicPartitionOffset> offsets)
    {
        var request = new OffsetCommitRequest
        {
            GroupId = group,
            GenerationIdOrMemberEpoch = generationOrEpoch,
            MemberId = memberId,
            GroupInstanceId = instanceId,
            RetentionTimeMs = -1,
        };
        var byTopic = new Dictionary<string, OffsetCommitRequest.OffsetCommitRequestTopic>(StringComparer.Ordinal);
        foreach (TopicPartitionOffset o in offsets)
        {
            if (!byTopic.TryGetValue(o.Topic, out OffsetCommitRequest.OffsetCommitRequestTopic? t))
            {
                byTopic[o.Topic] = t = new OffsetCommitRequest.OffsetCommitRequestTopic { Name = o.Topic };
                request.Topics.Add(t);
            }

            t.Partitions.Add(new OffsetCommitRequest.OffsetCommitRequestPartition
            {
                PartitionIndex = o.Partition,
                CommittedOffset = o.Offset,
                CommittedLeaderEpoch = -1,
                CommitTimestamp = -1,
                CommittedMetadata = "",
            });
        }

        return request;
    }

    /// <summary>The first partition error in the response, or 0.</summary>
    public static short FirstError(OffsetCommitResponse response)
    {
        foreach (OffsetCommitResponse.OffsetCommitResponseTopic t in response.Topics)
        {
            foreach (OffsetCommitResponse.OffsetCommitResponsePartition p in t.Partitions)
            {
                if (p.ErrorCode != 0)
                {
                    return p.ErrorCode;
                }
            }
        }

        return 0;
    }
}
