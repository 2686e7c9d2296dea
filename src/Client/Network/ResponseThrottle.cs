using System.Buffers.Binary;
using LogBroker.Protocol.Messages;

namespace LogBroker.Client.Network;

/// <summary>
/// Reads throttle_time_ms out of a response body without decoding the response, so the connection's read loop
/// can hold back the next request before anyone sees the response (KIP-219: a broker that throttles sends the
/// response at once and then stops reading; the client must not send in that time either, or its requests wait
/// in the broker's socket buffer and their timeouts run).
/// </summary>
/// <remarks>
/// In every response with the field it is the first one, from the version named here on, except Produce, where it
/// is the last (before the tagged fields from v9). ApiVersions and SASL are never throttled by a broker (Kafka
/// exempts them). Every version this client speaks is one where the broker mutes rather than delays (KIP-219 came
/// with Produce v6, Fetch v8 and the like; the client's floors are below that only for APIs it rarely uses, where
/// holding back as well costs nothing but the wait).
/// </remarks>
internal static class ResponseThrottle
{
    /// <summary>The throttle time the response asks for, in ms; 0 when none, or when the body is too short to say.</summary>
    public static int Of(ApiKey key, short version, ReadOnlySpan<byte> body)
    {
        if (key == ApiKey.Produce)
        {
            return OfProduce(version, body);
        }

        short since = FirstFieldSince(key);
        if (since < 0 || version < since || body.Length < 4)
        {
            return 0;
        }

        return Math.Max(0, BinaryPrimitives.ReadInt32BigEndian(body));
    }

    private static int OfProduce(short version, ReadOnlySpan<byte> body)
    {
        if (version < 9)
        {
            return body.Length >= 4 ? Math.Max(0, BinaryPrimitives.ReadInt32BigEndian(body[^4..])) : 0;
        }

        if (body.Length >= 5 && body[^1] == 0)
        {
            return Math.Max(0, BinaryPrimitives.ReadInt32BigEndian(body[^5..^1])); // then an empty tagged-field section
        }

        // Tagged fields after it (v10+ node endpoints): decode to find it.
        var reader = new Protocol.Primitives.KafkaReader(body);
        var response = new ProduceResponse();
        response.Read(ref reader, version);
        return reader.Failed ? 0 : Math.Max(0, response.ThrottleTimeMs);
    }

    /// <summary>The first version whose response starts with throttle_time_ms; -1 for APIs without it (or exempt).</summary>
    private static short FirstFieldSince(ApiKey key) => key switch
    {
        ApiKey.Fetch or ApiKey.DeleteTopics or ApiKey.DescribeGroups or ApiKey.FindCoordinator or ApiKey.Heartbeat
            or ApiKey.LeaveGroup or ApiKey.ListGroups or ApiKey.SyncGroup => 1,
        ApiKey.CreateTopics or ApiKey.JoinGroup or ApiKey.ListOffsets or ApiKey.OffsetForLeaderEpoch => 2,
        ApiKey.Metadata or ApiKey.OffsetCommit or ApiKey.OffsetFetch => 3,
        ApiKey.AlterClientQuotas or ApiKey.AlterConfigs or ApiKey.AlterPartitionReassignments or ApiKey.AlterUserScramCredentials
            or ApiKey.ConsumerGroupDescribe or ApiKey.ConsumerGroupHeartbeat or ApiKey.CreateAcls or ApiKey.CreatePartitions
            or ApiKey.DeleteAcls or ApiKey.DeleteGroups or ApiKey.DeleteRecords or ApiKey.DescribeAcls or ApiKey.DescribeClientQuotas
            or ApiKey.DescribeCluster or ApiKey.DescribeConfigs or ApiKey.DescribeUserScramCredentials or ApiKey.ElectLeaders
            or ApiKey.IncrementalAlterConfigs or ApiKey.InitProducerId or ApiKey.ListPartitionReassignments
            or ApiKey.DescribeLogDirs => 0,
        _ => -1,
    };
}
