using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// OffsetCommit (key 8), versions 0–9, for classic and server-side (KIP-848) groups alike: the
/// coordinator checks the committer against whichever protocol owns the group id. Generation -1 with
/// no member id commits for a standalone (assign()) consumer into an empty group. Metadata over 4096
/// bytes → OFFSET_METADATA_TOO_LARGE; a topic or partition that does not exist →
/// UNKNOWN_TOPIC_OR_PARTITION (as Kafka; AlterConsumerGroupOffsets too). A partition named twice is stored once (the last wins).
/// </summary>
/// <remarks>
/// Version notes: v0 has no generation or member id, so it is a standalone commit (generation -1, no
/// member), stored in the offset log like every other version; Kafka's ZooKeeper mode kept v0 commits
/// in ZooKeeper and its KRaft mode answers them UNSUPPORTED_VERSION, neither of which helps a client
/// that still sends v0. v1 carries a per-partition commit timestamp: when it is not -1 it is stored as
/// the commit time, as Kafka's <c>OffsetAndMetadata.fromRequest</c> does (any other negative value
/// is taken as -1, so no record of the offset log gets a timestamp before 1970). v2–4 carry a retention time,
/// which Kafka 2.1+ ignores for groups (KIP-211) and so does this handler.
/// </remarks>
/// <remarks>
/// An acknowledged commit is in the offset log. With <see cref="BrokerOptions.FlushOnAcksAll"/> on
/// (default) the answer waits until the offset log is fsynced (shared with concurrent commits, off the
/// read loop), so an acknowledged commit survives power loss; off, it survives a broker crash.
/// </remarks>
internal sealed class OffsetCommitHandler(OffsetManager groups, BrokerOptions options, TimeProvider time, Authorizer? authorizer = null, Cluster.GroupCoordinatorMap? coordinators = null) : RequestHandler<OffsetCommitRequest, OffsetCommitResponse>(ApiKey.OffsetCommit, 0, 9)
{
    private const int MaxMetadataBytes = 4096;

    public override ValueTask<OffsetCommitResponse?> HandleAsync(RequestContext context, OffsetCommitRequest commit)
    {
        long now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var valid = new List<(string, int, CommittedOffset)>();
        var index = new Dictionary<(string, int), int>();
        var response = new OffsetCommitResponse();
        ErrorCode? groupDenied = authorizer?.Check(context, AclOperation.Read, AclResourceType.Group, commit.GroupId); // Kafka: Read on the group, then Read on each topic
        if (groupDenied is null && coordinators?.Refusal(commit.GroupId) is { } elsewhere)
        {
            // Cluster mode: another broker coordinates the group; every partition gets the error.
            foreach (OffsetCommitRequest.OffsetCommitRequestTopic topic in commit.Topics)
            {
                response.Topics.Add(new OffsetCommitResponse.OffsetCommitResponseTopic
                {
                    Name = topic.Name,
                    Partitions = [.. topic.Partitions.Select(p => new OffsetCommitResponse.OffsetCommitResponsePartition { PartitionIndex = p.PartitionIndex, ErrorCode = (short)elsewhere })],
                });
            }

            return ValueTask.FromResult<OffsetCommitResponse?>(response);
        }

        foreach (OffsetCommitRequest.OffsetCommitRequestTopic topic in commit.Topics)
        {
            var topicResponse = new OffsetCommitResponse.OffsetCommitResponseTopic { Name = topic.Name };
            response.Topics.Add(topicResponse);
            bool badTopic = topic.Name.Length > Storage.TopicPartition.MaxTopicLength;
            ErrorCode? denied = groupDenied ?? authorizer?.Check(context, AclOperation.Read, AclResourceType.Topic, topic.Name);
            foreach (OffsetCommitRequest.OffsetCommitRequestPartition partition in topic.Partitions)
            {
                ErrorCode error = denied is { } refused ? refused
                    : badTopic || !groups.PartitionExists(topic.Name, partition.PartitionIndex) ? ErrorCode.UnknownTopicOrPartition
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
                        new CommittedOffset(partition.CommittedOffset, partition.CommittedLeaderEpoch, partition.CommittedMetadata,
                            context.Version == 1 && partition.CommitTimestamp >= 0 ? partition.CommitTimestamp : now));
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

        if (groupDenied is not null)
        {
            return ValueTask.FromResult<OffsetCommitResponse?>(response);
        }

        ErrorCode result = groups.Commit(commit.GroupId, commit.MemberId, commit.GroupInstanceId, commit.GenerationIdOrMemberEpoch, valid,
            out OffsetPosition position, out Task? replicated);
        if (result != ErrorCode.None)
        {
            SetAll(response, result);
            return ValueTask.FromResult<OffsetCommitResponse?>(response);
        }

        // Cluster mode: answered once replicated and applied; a single node: once on disk, with Broker:FlushOnAcksAll.
        if (valid.Count == 0 || (replicated is null && !options.FlushOnAcksAll))
        {
            return ValueTask.FromResult<OffsetCommitResponse?>(response);
        }

        Task durable = replicated ?? groups.WhenDurableAsync(position);
        return durable.IsCompletedSuccessfully ? ValueTask.FromResult<OffsetCommitResponse?>(response) : AnswerWhenDurableAsync(durable, response);
    }

    private static async ValueTask<OffsetCommitResponse?> AnswerWhenDurableAsync(Task durable, OffsetCommitResponse response)
    {
        try
        {
            await durable.ConfigureAwait(false);
        }
        catch (OffsetStoreException e)
        {
            SetAll(response, e.Error); // cluster mode: not replicated in time, or no longer the coordinator
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
