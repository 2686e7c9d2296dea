namespace LogBroker.Protocol.Messages;

/// <summary>
/// A response with a <c>throttle_time_ms</c> field (in the versions that have it: setting it on an older version
/// writes nothing). The broker sets it for any API when a quota throttles the client; the client reads it to
/// hold back its next requests (KIP-219).
/// </summary>
public interface IThrottledResponse : IKafkaMessage
{
    /// <summary>How long the client is throttled, in ms (0: not throttled).</summary>
    int ThrottleTimeMs { get; set; }
}

// Every generated response that has the field: the property is already there, this only names the interface.
public sealed partial class AlterClientQuotasResponse : IThrottledResponse;
public sealed partial class AlterConfigsResponse : IThrottledResponse;
public sealed partial class AlterPartitionReassignmentsResponse : IThrottledResponse;
public sealed partial class AlterUserScramCredentialsResponse : IThrottledResponse;
public sealed partial class ApiVersionsResponse : IThrottledResponse;
public sealed partial class ConsumerGroupDescribeResponse : IThrottledResponse;
public sealed partial class ConsumerGroupHeartbeatResponse : IThrottledResponse;
public sealed partial class CreateAclsResponse : IThrottledResponse;
public sealed partial class CreatePartitionsResponse : IThrottledResponse;
public sealed partial class CreateTopicsResponse : IThrottledResponse;
public sealed partial class DeleteAclsResponse : IThrottledResponse;
public sealed partial class DeleteGroupsResponse : IThrottledResponse;
public sealed partial class DeleteRecordsResponse : IThrottledResponse;
public sealed partial class DeleteTopicsResponse : IThrottledResponse;
public sealed partial class DescribeAclsResponse : IThrottledResponse;
public sealed partial class DescribeClientQuotasResponse : IThrottledResponse;
public sealed partial class DescribeClusterResponse : IThrottledResponse;
public sealed partial class DescribeConfigsResponse : IThrottledResponse;
public sealed partial class DescribeGroupsResponse : IThrottledResponse;
public sealed partial class DescribeUserScramCredentialsResponse : IThrottledResponse;
public sealed partial class ElectLeadersResponse : IThrottledResponse;
public sealed partial class FetchResponse : IThrottledResponse;
public sealed partial class FindCoordinatorResponse : IThrottledResponse;
public sealed partial class HeartbeatResponse : IThrottledResponse;
public sealed partial class IncrementalAlterConfigsResponse : IThrottledResponse;
public sealed partial class InitProducerIdResponse : IThrottledResponse;
public sealed partial class JoinGroupResponse : IThrottledResponse;
public sealed partial class LeaveGroupResponse : IThrottledResponse;
public sealed partial class ListGroupsResponse : IThrottledResponse;
public sealed partial class ListOffsetsResponse : IThrottledResponse;
public sealed partial class ListPartitionReassignmentsResponse : IThrottledResponse;
public sealed partial class MetadataResponse : IThrottledResponse;
public sealed partial class OffsetCommitResponse : IThrottledResponse;
public sealed partial class OffsetFetchResponse : IThrottledResponse;
public sealed partial class OffsetForLeaderEpochResponse : IThrottledResponse;
public sealed partial class ProduceResponse : IThrottledResponse;
public sealed partial class SyncGroupResponse : IThrottledResponse;
