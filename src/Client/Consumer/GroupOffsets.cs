using LogBroker.Client.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Client.Consumer;

/// <summary>
/// The offsets a consumer looks up and commits: a group's committed offsets, the log's start/end/time
/// offsets, and commits. The real one runs over <see cref="Cluster"/> (with retries); unit tests pass a fake.
/// </summary>
internal interface IGroupOffsets
{
    /// <summary>Committed offsets of <paramref name="partitions"/> (-1 where nothing is committed).</summary>
    Task<Dictionary<TopicPartition, long>> FetchCommittedAsync(string group, List<TopicPartition> partitions, CancellationToken cancellationToken);

    /// <summary>The offset for <paramref name="timestamp"/> (-2 start, -1 end) of each partition that answered.</summary>
    Task<Dictionary<TopicPartition, long>> ListOffsetsAsync(List<TopicPartition> partitions, long timestamp, CancellationToken cancellationToken);

    /// <summary>Commits <paramref name="offsets"/>; <paramref name="identity"/> is read for each attempt.</summary>
    Task CommitAsync(string group, Func<(int GenerationOrEpoch, string MemberId)> identity, List<TopicPartitionOffset> offsets, CancellationToken cancellationToken);
}

/// <summary>The group offsets over a <see cref="Cluster"/>.</summary>
internal sealed class ClusterGroupOffsets(Cluster cluster, ConsumerOptions options) : IGroupOffsets
{
    public async Task<Dictionary<TopicPartition, long>> FetchCommittedAsync(string group, List<TopicPartition> partitions, CancellationToken cancellationToken)
    {
        var result = new Dictionary<TopicPartition, long>();
        if (partitions.Count == 0)
        {
            return result;
        }

        var request = new OffsetFetchRequest { GroupId = group, Topics = PartitionRequests.GroupByTopic(partitions), RequireStable = true };
        OffsetFetchResponse response = await cluster.RetryAsync(async ct =>
        {
            OffsetFetchResponse r = await cluster.SendToCoordinatorAsync<OffsetFetchResponse>(group, ApiKey.OffsetFetch, request, static r => r.ErrorCode, ct).ConfigureAwait(false);
            return r.ErrorCode == 0
                ? r
                : throw new KafkaException((ErrorCode)r.ErrorCode, $"Fetching committed offsets of group '{group}' failed: {(ErrorCode)r.ErrorCode}.");
        }, options.RequestTimeout, cancellationToken).ConfigureAwait(false);

        foreach (OffsetFetchResponse.OffsetFetchResponseTopic t in response.Topics)
        {
            foreach (OffsetFetchResponse.OffsetFetchResponsePartition p in t.Partitions)
            {
                result[new TopicPartition(t.Name, p.PartitionIndex)] = p.ErrorCode == 0 ? p.CommittedOffset : -1;
            }
        }

        return result;
    }

    public async Task<Dictionary<TopicPartition, long>> ListOffsetsAsync(List<TopicPartition> partitions, long timestamp, CancellationToken cancellationToken)
    {
        var result = new Dictionary<TopicPartition, long>();
        if (partitions.Count == 0)
        {
            return result;
        }

        foreach ((TopicPartition tp, ErrorCode error, long offset, _) in await cluster.ListOffsetsAsync(partitions, timestamp, cancellationToken).ConfigureAwait(false))
        {
            if (error == ErrorCode.None)
            {
                result[tp] = offset;
            }
            else
            {
                cluster.Invalidate(); // the partition stays unresolved and is looked up again
            }
        }

        return result;
    }

    public Task CommitAsync(string group, Func<(int GenerationOrEpoch, string MemberId)> identity, List<TopicPartitionOffset> offsets, CancellationToken cancellationToken) =>
        cluster.RetryAsync(async ct =>
        {
            (int generation, string memberId) = identity();
            OffsetCommitRequest request = OffsetCommits.Request(group, generation, memberId, options.GroupInstanceId, offsets);
            OffsetCommitResponse response = await cluster.SendToCoordinatorAsync<OffsetCommitResponse>(group, ApiKey.OffsetCommit, request, OffsetCommits.FirstError, ct).ConfigureAwait(false);
            var error = (ErrorCode)OffsetCommits.FirstError(response);
            return error == ErrorCode.None
                ? true
                : throw new KafkaException(error, $"Committing offsets of group '{group}' failed: {error}.");
        }, options.RequestTimeout, cancellationToken);
}
