using LogBroker.Broker.Groups;
using LogBroker.Broker.Metadata;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.Protocol.Records;
using LogBroker.Storage;

namespace LogBroker.Broker.Telemetry;

/// <summary>Committed offset and lag of one partition for one group.</summary>
/// <param name="Topic">The topic.</param>
/// <param name="Partition">The partition.</param>
/// <param name="Committed">The group's committed offset (the next record it will consume).</param>
/// <param name="LogStart">The partition's log start offset (-1 when the partition no longer exists).</param>
/// <param name="LogEnd">The partition's high watermark (-1 when the partition no longer exists).</param>
/// <param name="Lag">Records between the committed offset and the high watermark (never negative).</param>
/// <param name="TimeLagMs">Now minus the timestamp of the next record to consume (0 when caught up); null when it cannot be read.</param>
internal sealed record PartitionLag(string Topic, int Partition, long Committed, long LogStart, long LogEnd, long Lag, long? TimeLagMs);

/// <summary>A consumer group as listed: state, protocol, member count.</summary>
internal sealed record GroupSummary(string Id, string State, string ProtocolType, string Type, string Protocol, int Members);

/// <summary>One member of a group with the partitions assigned to it.</summary>
internal sealed record GroupMemberInfo(string MemberId, string? InstanceId, string ClientId, string ClientHost, IReadOnlyList<TopicPartitions> Assignment);

/// <summary>Partitions of one topic.</summary>
internal sealed record TopicPartitions(string Topic, IReadOnlyList<int> Partitions);

/// <summary>
/// Read-only views of the broker's state for metrics, the JSON API and the console: groups, their
/// members and lag, from the coordinators' public reads (no hooks in them) and the partition logs.
/// </summary>
internal sealed class BrokerState(TopicRegistry topics, GroupCoordinator groups, OffsetManager offsets, ConsumerGroupCoordinator consumerGroups, TimeProvider time)
{
    public TopicRegistry Topics => topics;

    /// <summary>Every group, sorted by id, with its member count.</summary>
    public List<GroupSummary> ListGroups(int max = int.MaxValue)
    {
        var result = new List<GroupSummary>();
        foreach ((string id, string state, string protocolType, string type) in offsets.List())
        {
            if (result.Count >= max)
            {
                break;
            }

            if (type == "consumer")
            {
                ConsumerGroupDescribeResponse.DescribedGroup described = consumerGroups.Describe(id);
                result.Add(new GroupSummary(id, state, protocolType, type, described.AssignorName, described.Members.Count));
            }
            else
            {
                DescribeGroupsResponse.DescribedGroup described = groups.Describe(id);
                result.Add(new GroupSummary(id, state, protocolType, type, described.ProtocolData, described.Members.Count));
            }
        }

        return result;
    }

    /// <summary>The group's members with their assignments (decoded from the classic assignment bytes, or the server-side assignment).</summary>
    public List<GroupMemberInfo> Members(string groupId)
    {
        var result = new List<GroupMemberInfo>();
        if (consumerGroups.Owns(groupId))
        {
            foreach (ConsumerGroupDescribeResponse.Member member in consumerGroups.Describe(groupId).Members)
            {
                var assigned = new List<TopicPartitions>();
                foreach (ConsumerGroupDescribeResponse.TopicPartitions tp in member.Assignment.TopicPartitions)
                {
                    assigned.Add(new TopicPartitions(tp.TopicName, [.. tp.Partitions]));
                }

                result.Add(new GroupMemberInfo(member.MemberId, member.InstanceId, member.ClientId, member.ClientHost, assigned));
            }

            return result;
        }

        foreach (DescribeGroupsResponse.DescribedGroupMember member in groups.Describe(groupId).Members)
        {
            result.Add(new GroupMemberInfo(member.MemberId, member.GroupInstanceId, member.ClientId, member.ClientHost, DecodeAssignment(member.MemberAssignment.ToArray())));
        }

        return result;
    }

    /// <summary>Committed offset and lag of every partition the group has committed, sorted by topic and partition.</summary>
    public List<PartitionLag> Lag(string groupId)
    {
        var result = new List<PartitionLag>();
        long now = time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach ((string topic, int partition, CommittedOffset? offset) in offsets.Fetch(groupId, null))
        {
            if (offset is null)
            {
                continue;
            }

            PartitionLog? log = topics.Partition(topic, partition);
            if (log is null)
            {
                result.Add(new PartitionLag(topic, partition, offset.Offset, -1, -1, 0, null));
                continue;
            }

            long start = log.LogStartOffset;
            long end = log.LogEndOffset;
            long lag = Math.Max(0, end - Math.Max(offset.Offset, 0));
            long? timeLag = 0;
            if (lag > 0)
            {
                long? timestamp = TimestampAt(log, Math.Max(offset.Offset, start));
                timeLag = timestamp is { } t ? Math.Max(0, now - t) : null;
            }

            result.Add(new PartitionLag(topic, partition, offset.Offset, start, end, lag, timeLag));
        }

        return result;
    }

    /// <summary>The groups that have committed offsets of <paramref name="topic"/>.</summary>
    public List<string> GroupsReading(string topic)
    {
        var result = new List<string>();
        foreach ((string id, _, _, _) in offsets.List())
        {
            foreach ((string t, _, CommittedOffset? offset) in offsets.Fetch(id, null))
            {
                if (offset is not null && t == topic)
                {
                    result.Add(id);
                    break;
                }
            }
        }

        return result;
    }

    /// <summary>
    /// The timestamp of the record at <paramref name="offset"/>: exact in an uncompressed batch; for a
    /// compressed one the batch's first timestamp (the record is not decompressed); the batch's max
    /// timestamp under LogAppendTime. Null when nothing can be read there.
    /// </summary>
    public static long? TimestampAt(PartitionLog log, long offset)
    {
        using LogReadResult read = log.Read(offset, 1);
        ReadOnlySpan<byte> batch = read.Records.Span;
        if (read.Status != ReadStatus.Success || batch.Length < RecordBatch.HeaderSize)
        {
            return null;
        }

        RecordBatchHeader header = RecordBatchHeader.Read(batch);
        if (header.IsLogAppendTime)
        {
            return header.MaxTimestamp;
        }

        if (header.Compression != CompressionType.None || header.TotalSize > batch.Length)
        {
            return header.BaseTimestamp;
        }

        var records = new RecordReader(batch[RecordBatch.HeaderSize..header.TotalSize]);
        while (records.TryRead(out RecordView record))
        {
            if (header.BaseOffset + record.OffsetDelta >= offset)
            {
                return header.BaseTimestamp + record.TimestampDelta;
            }
        }

        return header.BaseTimestamp;
    }

    private static List<TopicPartitions> DecodeAssignment(byte[] assignment)
    {
        var result = new List<TopicPartitions>();
        if (assignment.Length < 2)
        {
            return result;
        }

        var reader = new KafkaReader(assignment);
        short version = reader.ReadInt16();
        var decoded = new ConsumerProtocolAssignment();
        decoded.Read(ref reader, Math.Clamp(version, ConsumerProtocolAssignment.LowestVersion, ConsumerProtocolAssignment.HighestVersion));
        if (reader.Failed)
        {
            return result;
        }

        foreach (ConsumerProtocolAssignment.TopicPartition tp in decoded.AssignedPartitions)
        {
            result.Add(new TopicPartitions(tp.Topic, [.. tp.Partitions]));
        }

        return result;
    }
}
