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
/// ListOffsets (key 2), versions 0–9 (Kafka 3.9's range).
/// Behaviour: -2 earliest → log start offset; -1 latest → log end offset (= high watermark = last
/// stable offset on one node); -3 max timestamp (v7) → the batch holding the greatest timestamp;
/// -4 earliest local (v8, KIP-405) → the log start offset (every segment is local); -5 latest tiered
/// (v9, KIP-1005) → offset -1, leader epoch -1, as Kafka answers without remote storage; t ≥ 0 → the
/// first record whose timestamp ≥ t via the time index, or offset -1 when none is that recent. Leader
/// epoch 0 in v4+. Unknown partition → UNKNOWN_TOPIC_OR_PARTITION. A partition listed more than once
/// gets INVALID_REQUEST at every entry, as Kafka answers it.
/// A replicated partition (cluster mode) is answered only by its leader (NOT_LEADER_OR_FOLLOWER elsewhere; the
/// caller's current_leader_epoch checked as Fetch checks it), with its leader epoch; a client (replica id -1) sees
/// only offsets below the high watermark, as Kafka's fetchOffsetForTimestamp: latest is the high watermark, and a
/// timestamp lookup that lands at or above it finds nothing. A replica id ≥ 0 gets the log end offset.
/// v0 answers Kafka's legacy <c>old_style_offsets</c> (its legacyFetchOffsetsBefore): the candidates
/// are each segment's base offset (at least the log start) stamped with its file's modification time,
/// then the log end offset stamped now when the last segment holds data; -1 starts from the last, -2
/// from the first, t from the last one modified at or before t; up to max_num_offsets of them are
/// returned, newest first. Timestamps below -2 get UNSUPPORTED_VERSION in v0, as in Kafka.
/// </summary>
internal sealed class ListOffsetsHandler(TopicRegistry topics, TimeProvider time, Authorizer? authorizer = null, ReplicaManager? replicas = null) : RequestHandler<ListOffsetsRequest, ListOffsetsResponse>(ApiKey.ListOffsets, 0, 9)
{
    private const long Latest = -1;
    private const long Earliest = -2;
    private const long MaxTimestamp = -3;
    private const long EarliestLocal = -4;
    private const long LatestTiered = -5;

    public override ValueTask<ListOffsetsResponse?> HandleAsync(RequestContext context, ListOffsetsRequest list)
    {
        var response = new ListOffsetsResponse();
        HashSet<(string, int)>? repeated = Duplicates.Repeated(Keys(list));
        foreach (ListOffsetsRequest.ListOffsetsTopic topic in list.Topics)
        {
            var topicResponse = new ListOffsetsResponse.ListOffsetsTopicResponse { Name = topic.Name };
            response.Topics.Add(topicResponse);
            ErrorCode? denied = authorizer?.Check(context, AclOperation.Describe, AclResourceType.Topic, topic.Name);
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

                if (denied is { } refused)
                {
                    result.ErrorCode = (short)refused;
                    result.Offset = result.Timestamp = -1;
                    continue;
                }

                PartitionLog? log = topics.ReadablePartition(topic.Name, partition.PartitionIndex);
                if (log is null)
                {
                    result.ErrorCode = (short)ErrorCode.UnknownTopicOrPartition;
                    continue;
                }

                int leaderEpoch = ClusterInfo.LeaderEpoch;
                long visibleEnd = list.ReplicaId >= 0 ? long.MaxValue : log.HighWatermark;
                if (replicas?.Find(topic.Name, partition.PartitionIndex) is { } replica)
                {
                    ErrorCode error = replicas.CheckLeader(replica, partition.CurrentLeaderEpoch);
                    if (error != ErrorCode.None)
                    {
                        result.ErrorCode = (short)error;
                        result.Offset = result.Timestamp = -1;
                        continue;
                    }

                    leaderEpoch = replica.State?.LeaderEpoch ?? leaderEpoch;
                }

                try
                {
                    Answer(context.Version, log, partition, result, time, leaderEpoch, visibleEnd);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException or StorageLimitException)
                {
                    // A segment or index that cannot be opened or read now: this partition only, as Kafka answers it.
                    result.ErrorCode = (short)ErrorCode.KafkaStorageError;
                    result.Offset = result.Timestamp = -1;
                    result.OldStyleOffsets.Clear();
                }
            }
        }

        return ValueTask.FromResult<ListOffsetsResponse?>(response);
    }

    /// <summary>The answer for one partition; storage failures are the caller's to catch.</summary>
    /// <remarks><paramref name="visibleEnd"/>: the first offset the caller may not see (the high watermark for a client; long.MaxValue for a replica).</remarks>
    private static void Answer(short version, PartitionLog log, ListOffsetsRequest.ListOffsetsPartition partition,
        ListOffsetsResponse.ListOffsetsPartitionResponse result, TimeProvider time, int leaderEpoch, long visibleEnd)
    {
        if (log.IsUnreadable)
        {
            // Its load failed: the log stands as an empty placeholder, and its offsets would be wrong.
            result.ErrorCode = (short)ErrorCode.KafkaStorageError;
            result.Offset = result.Timestamp = -1;
            return;
        }

        if (version == 0)
        {
            LegacyOffsets(log, partition, result, time.GetUtcNow().ToUnixTimeMilliseconds(), visibleEnd);
            return;
        }

        result.LeaderEpoch = leaderEpoch;
        long end = Math.Min(log.LogEndOffset, visibleEnd);
        (long offset, long timestamp) = partition.Timestamp switch
        {
            Latest => (end, -1L),
            Earliest or EarliestLocal => (log.LogStartOffset, -1L),
            MaxTimestamp => log.MaxTimestamp() ?? (-1L, -1L),
            < 0 => (-1L, -1L),
            _ => log.OffsetForTimestamp(partition.Timestamp) ?? (-1L, -1L),
        };
        if (partition.Timestamp == LatestTiered)
        {
            result.LeaderEpoch = -1; // nothing is tiered: Kafka's answer without remote storage
        }
        else if (partition.Timestamp < LatestTiered)
        {
            result.ErrorCode = (short)ErrorCode.InvalidRequest;
        }

        if (offset >= end && partition.Timestamp is not Latest and not Earliest and not EarliestLocal)
        {
            (offset, timestamp) = (-1L, -1L); // found above what the caller may read: not there yet for it
        }

        result.Offset = offset;
        result.Timestamp = timestamp;
    }

    /// <summary>ListOffsets v0: Kafka's legacyFetchOffsetsBefore over this partition's segments.</summary>
    private static void LegacyOffsets(PartitionLog log, ListOffsetsRequest.ListOffsetsPartition partition,
        ListOffsetsResponse.ListOffsetsPartitionResponse result, long now, long visibleEnd)
    {
        if (partition.Timestamp < Earliest)
        {
            result.ErrorCode = (short)ErrorCode.UnsupportedVersion; // v0 knows only -1 and -2
            return;
        }

        long start = log.LogStartOffset, end = Math.Min(log.LogEndOffset, visibleEnd);
        IReadOnlyList<long> bases = log.SegmentBaseOffsets;
        bool lastHasData = bases.Count == 0 || end > bases[^1];
        int count = bases.Count + (lastHasData ? 1 : 0);
        long OffsetAt(int i) => i < bases.Count ? Math.Min(Math.Max(bases[i], start), end) : end;

        int index = count - 1;
        if (partition.Timestamp == Earliest)
        {
            index = 0;
        }
        else if (partition.Timestamp != Latest)
        {
            while (index >= 0 && ModifiedAt(log, bases, index, now) > partition.Timestamp)
            {
                index--;
            }
        }

        int wanted = Math.Min(Math.Max(partition.MaxNumOffsets, 0), index + 1); // at most one per segment
        for (int j = 0; j < wanted; j++)
        {
            result.OldStyleOffsets.Add(OffsetAt(index - j)); // newest first, as Kafka sorts them
        }
    }

    /// <summary>The modification time of candidate <paramref name="i"/>: its segment file's, or now for the log end.</summary>
    private static long ModifiedAt(PartitionLog log, IReadOnlyList<long> bases, int i, long now)
    {
        if (i >= bases.Count)
        {
            return now;
        }

        // Segment files are named by their 20-digit base offset (see src/Storage/LogSegment.cs).
        var file = new FileInfo(Path.Combine(log.Directory, bases[i].ToString("D20", System.Globalization.CultureInfo.InvariantCulture) + ".log"));
        return file.Exists ? new DateTimeOffset(file.LastWriteTimeUtc).ToUnixTimeMilliseconds() : now; // not written yet: new
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
