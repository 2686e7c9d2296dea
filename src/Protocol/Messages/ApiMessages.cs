using LogBroker.Protocol.Primitives;

namespace LogBroker.Protocol.Messages;

/// <summary>
/// Per-API facts from the schemas: version ranges, which versions are flexible, and factories for the
/// generated message classes. Also the request and response header rules (KIP-482 / KIP-511).
/// </summary>
public static class ApiMessages
{
    /// <summary>True when the API key has a schema here.</summary>
    public static bool IsKnown(short key) => Enum.IsDefined((ApiKey)key);

    /// <summary>The versions the schema defines for <paramref name="key"/>.</summary>
    public static (short Lowest, short Highest) SchemaVersions(ApiKey key) => key switch
    {
        ApiKey.Produce => (ProduceRequest.LowestVersion, ProduceRequest.HighestVersion),
        ApiKey.Fetch => (FetchRequest.LowestVersion, FetchRequest.HighestVersion),
        ApiKey.ListOffsets => (ListOffsetsRequest.LowestVersion, ListOffsetsRequest.HighestVersion),
        ApiKey.Metadata => (MetadataRequest.LowestVersion, MetadataRequest.HighestVersion),
        ApiKey.OffsetCommit => (OffsetCommitRequest.LowestVersion, OffsetCommitRequest.HighestVersion),
        ApiKey.OffsetFetch => (OffsetFetchRequest.LowestVersion, OffsetFetchRequest.HighestVersion),
        ApiKey.FindCoordinator => (FindCoordinatorRequest.LowestVersion, FindCoordinatorRequest.HighestVersion),
        ApiKey.JoinGroup => (JoinGroupRequest.LowestVersion, JoinGroupRequest.HighestVersion),
        ApiKey.Heartbeat => (HeartbeatRequest.LowestVersion, HeartbeatRequest.HighestVersion),
        ApiKey.LeaveGroup => (LeaveGroupRequest.LowestVersion, LeaveGroupRequest.HighestVersion),
        ApiKey.SyncGroup => (SyncGroupRequest.LowestVersion, SyncGroupRequest.HighestVersion),
        ApiKey.DescribeGroups => (DescribeGroupsRequest.LowestVersion, DescribeGroupsRequest.HighestVersion),
        ApiKey.ListGroups => (ListGroupsRequest.LowestVersion, ListGroupsRequest.HighestVersion),
        ApiKey.SaslHandshake => (SaslHandshakeRequest.LowestVersion, SaslHandshakeRequest.HighestVersion),
        ApiKey.ApiVersions => (ApiVersionsRequest.LowestVersion, ApiVersionsRequest.HighestVersion),
        ApiKey.CreateTopics => (CreateTopicsRequest.LowestVersion, CreateTopicsRequest.HighestVersion),
        ApiKey.DeleteTopics => (DeleteTopicsRequest.LowestVersion, DeleteTopicsRequest.HighestVersion),
        ApiKey.DeleteRecords => (DeleteRecordsRequest.LowestVersion, DeleteRecordsRequest.HighestVersion),
        ApiKey.InitProducerId => (InitProducerIdRequest.LowestVersion, InitProducerIdRequest.HighestVersion),
        ApiKey.OffsetForLeaderEpoch => (OffsetForLeaderEpochRequest.LowestVersion, OffsetForLeaderEpochRequest.HighestVersion),
        ApiKey.DescribeConfigs => (DescribeConfigsRequest.LowestVersion, DescribeConfigsRequest.HighestVersion),
        ApiKey.AlterConfigs => (AlterConfigsRequest.LowestVersion, AlterConfigsRequest.HighestVersion),
        ApiKey.SaslAuthenticate => (SaslAuthenticateRequest.LowestVersion, SaslAuthenticateRequest.HighestVersion),
        ApiKey.CreatePartitions => (CreatePartitionsRequest.LowestVersion, CreatePartitionsRequest.HighestVersion),
        ApiKey.DeleteGroups => (DeleteGroupsRequest.LowestVersion, DeleteGroupsRequest.HighestVersion),
        ApiKey.OffsetDelete => (OffsetDeleteRequest.LowestVersion, OffsetDeleteRequest.HighestVersion),
        ApiKey.DescribeLogDirs => (DescribeLogDirsRequest.LowestVersion, DescribeLogDirsRequest.HighestVersion),
        ApiKey.IncrementalAlterConfigs => (IncrementalAlterConfigsRequest.LowestVersion, IncrementalAlterConfigsRequest.HighestVersion),
        ApiKey.DescribeCluster => (DescribeClusterRequest.LowestVersion, DescribeClusterRequest.HighestVersion),
        ApiKey.ConsumerGroupHeartbeat => (ConsumerGroupHeartbeatRequest.LowestVersion, ConsumerGroupHeartbeatRequest.HighestVersion),
        ApiKey.ConsumerGroupDescribe => (ConsumerGroupDescribeRequest.LowestVersion, ConsumerGroupDescribeRequest.HighestVersion),
        ApiKey.DescribeUserScramCredentials => (DescribeUserScramCredentialsRequest.LowestVersion, DescribeUserScramCredentialsRequest.HighestVersion),
        ApiKey.AlterUserScramCredentials => (AlterUserScramCredentialsRequest.LowestVersion, AlterUserScramCredentialsRequest.HighestVersion),
        _ => throw new ArgumentOutOfRangeException(nameof(key)),
    };

    /// <summary>True when the request of this version is flexible (request header v2).</summary>
    public static bool IsFlexibleRequest(ApiKey key, short version) => key switch
    {
        ApiKey.Produce => ProduceRequest.IsFlexible(version),
        ApiKey.Fetch => FetchRequest.IsFlexible(version),
        ApiKey.ListOffsets => ListOffsetsRequest.IsFlexible(version),
        ApiKey.Metadata => MetadataRequest.IsFlexible(version),
        ApiKey.OffsetCommit => OffsetCommitRequest.IsFlexible(version),
        ApiKey.OffsetFetch => OffsetFetchRequest.IsFlexible(version),
        ApiKey.FindCoordinator => FindCoordinatorRequest.IsFlexible(version),
        ApiKey.JoinGroup => JoinGroupRequest.IsFlexible(version),
        ApiKey.Heartbeat => HeartbeatRequest.IsFlexible(version),
        ApiKey.LeaveGroup => LeaveGroupRequest.IsFlexible(version),
        ApiKey.SyncGroup => SyncGroupRequest.IsFlexible(version),
        ApiKey.DescribeGroups => DescribeGroupsRequest.IsFlexible(version),
        ApiKey.ListGroups => ListGroupsRequest.IsFlexible(version),
        ApiKey.SaslHandshake => SaslHandshakeRequest.IsFlexible(version),
        ApiKey.ApiVersions => ApiVersionsRequest.IsFlexible(version),
        ApiKey.CreateTopics => CreateTopicsRequest.IsFlexible(version),
        ApiKey.DeleteTopics => DeleteTopicsRequest.IsFlexible(version),
        ApiKey.DeleteRecords => DeleteRecordsRequest.IsFlexible(version),
        ApiKey.InitProducerId => InitProducerIdRequest.IsFlexible(version),
        ApiKey.OffsetForLeaderEpoch => OffsetForLeaderEpochRequest.IsFlexible(version),
        ApiKey.DescribeConfigs => DescribeConfigsRequest.IsFlexible(version),
        ApiKey.AlterConfigs => AlterConfigsRequest.IsFlexible(version),
        ApiKey.SaslAuthenticate => SaslAuthenticateRequest.IsFlexible(version),
        ApiKey.CreatePartitions => CreatePartitionsRequest.IsFlexible(version),
        ApiKey.DeleteGroups => DeleteGroupsRequest.IsFlexible(version),
        ApiKey.IncrementalAlterConfigs => IncrementalAlterConfigsRequest.IsFlexible(version),
        ApiKey.DescribeCluster => DescribeClusterRequest.IsFlexible(version),
        ApiKey.ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest.IsFlexible(version),
        ApiKey.DescribeLogDirs => DescribeLogDirsRequest.IsFlexible(version),
        ApiKey.ConsumerGroupDescribe => ConsumerGroupDescribeRequest.IsFlexible(version),
        ApiKey.DescribeUserScramCredentials => DescribeUserScramCredentialsRequest.IsFlexible(version),
        ApiKey.AlterUserScramCredentials => AlterUserScramCredentialsRequest.IsFlexible(version),
        _ => false,
    };

    /// <summary>True when the response body of this version is flexible.</summary>
    public static bool IsFlexibleResponse(ApiKey key, short version) => key switch
    {
        ApiKey.Produce => ProduceResponse.IsFlexible(version),
        ApiKey.Fetch => FetchResponse.IsFlexible(version),
        ApiKey.ListOffsets => ListOffsetsResponse.IsFlexible(version),
        ApiKey.Metadata => MetadataResponse.IsFlexible(version),
        ApiKey.OffsetCommit => OffsetCommitResponse.IsFlexible(version),
        ApiKey.OffsetFetch => OffsetFetchResponse.IsFlexible(version),
        ApiKey.FindCoordinator => FindCoordinatorResponse.IsFlexible(version),
        ApiKey.JoinGroup => JoinGroupResponse.IsFlexible(version),
        ApiKey.Heartbeat => HeartbeatResponse.IsFlexible(version),
        ApiKey.LeaveGroup => LeaveGroupResponse.IsFlexible(version),
        ApiKey.SyncGroup => SyncGroupResponse.IsFlexible(version),
        ApiKey.DescribeGroups => DescribeGroupsResponse.IsFlexible(version),
        ApiKey.ListGroups => ListGroupsResponse.IsFlexible(version),
        ApiKey.SaslHandshake => SaslHandshakeResponse.IsFlexible(version),
        ApiKey.ApiVersions => ApiVersionsResponse.IsFlexible(version),
        ApiKey.CreateTopics => CreateTopicsResponse.IsFlexible(version),
        ApiKey.DeleteTopics => DeleteTopicsResponse.IsFlexible(version),
        ApiKey.DeleteRecords => DeleteRecordsResponse.IsFlexible(version),
        ApiKey.InitProducerId => InitProducerIdResponse.IsFlexible(version),
        ApiKey.OffsetForLeaderEpoch => OffsetForLeaderEpochResponse.IsFlexible(version),
        ApiKey.DescribeConfigs => DescribeConfigsResponse.IsFlexible(version),
        ApiKey.AlterConfigs => AlterConfigsResponse.IsFlexible(version),
        ApiKey.SaslAuthenticate => SaslAuthenticateResponse.IsFlexible(version),
        ApiKey.CreatePartitions => CreatePartitionsResponse.IsFlexible(version),
        ApiKey.DeleteGroups => DeleteGroupsResponse.IsFlexible(version),
        ApiKey.IncrementalAlterConfigs => IncrementalAlterConfigsResponse.IsFlexible(version),
        ApiKey.DescribeCluster => DescribeClusterResponse.IsFlexible(version),
        ApiKey.ConsumerGroupHeartbeat => ConsumerGroupHeartbeatResponse.IsFlexible(version),
        ApiKey.DescribeLogDirs => DescribeLogDirsResponse.IsFlexible(version),
        ApiKey.ConsumerGroupDescribe => ConsumerGroupDescribeResponse.IsFlexible(version),
        ApiKey.DescribeUserScramCredentials => DescribeUserScramCredentialsResponse.IsFlexible(version),
        ApiKey.AlterUserScramCredentials => AlterUserScramCredentialsResponse.IsFlexible(version),
        _ => false,
    };

    /// <summary>A new, empty request object for <paramref name="key"/>.</summary>
    public static IKafkaMessage CreateRequest(ApiKey key) => key switch
    {
        ApiKey.Produce => new ProduceRequest(),
        ApiKey.Fetch => new FetchRequest(),
        ApiKey.ListOffsets => new ListOffsetsRequest(),
        ApiKey.Metadata => new MetadataRequest(),
        ApiKey.OffsetCommit => new OffsetCommitRequest(),
        ApiKey.OffsetFetch => new OffsetFetchRequest(),
        ApiKey.FindCoordinator => new FindCoordinatorRequest(),
        ApiKey.JoinGroup => new JoinGroupRequest(),
        ApiKey.Heartbeat => new HeartbeatRequest(),
        ApiKey.LeaveGroup => new LeaveGroupRequest(),
        ApiKey.SyncGroup => new SyncGroupRequest(),
        ApiKey.DescribeGroups => new DescribeGroupsRequest(),
        ApiKey.ListGroups => new ListGroupsRequest(),
        ApiKey.SaslHandshake => new SaslHandshakeRequest(),
        ApiKey.ApiVersions => new ApiVersionsRequest(),
        ApiKey.CreateTopics => new CreateTopicsRequest(),
        ApiKey.DeleteTopics => new DeleteTopicsRequest(),
        ApiKey.DeleteRecords => new DeleteRecordsRequest(),
        ApiKey.InitProducerId => new InitProducerIdRequest(),
        ApiKey.OffsetForLeaderEpoch => new OffsetForLeaderEpochRequest(),
        ApiKey.DescribeConfigs => new DescribeConfigsRequest(),
        ApiKey.AlterConfigs => new AlterConfigsRequest(),
        ApiKey.SaslAuthenticate => new SaslAuthenticateRequest(),
        ApiKey.CreatePartitions => new CreatePartitionsRequest(),
        ApiKey.DeleteGroups => new DeleteGroupsRequest(),
        ApiKey.OffsetDelete => new OffsetDeleteRequest(),
        ApiKey.DescribeLogDirs => new DescribeLogDirsRequest(),
        ApiKey.IncrementalAlterConfigs => new IncrementalAlterConfigsRequest(),
        ApiKey.DescribeCluster => new DescribeClusterRequest(),
        ApiKey.ConsumerGroupHeartbeat => new ConsumerGroupHeartbeatRequest(),
        ApiKey.ConsumerGroupDescribe => new ConsumerGroupDescribeRequest(),
        ApiKey.DescribeUserScramCredentials => new DescribeUserScramCredentialsRequest(),
        ApiKey.AlterUserScramCredentials => new AlterUserScramCredentialsRequest(),
        _ => throw new ArgumentOutOfRangeException(nameof(key)),
    };

    /// <summary>A new, empty response object for <paramref name="key"/>.</summary>
    public static IKafkaMessage CreateResponse(ApiKey key) => key switch
    {
        ApiKey.Produce => new ProduceResponse(),
        ApiKey.Fetch => new FetchResponse(),
        ApiKey.ListOffsets => new ListOffsetsResponse(),
        ApiKey.Metadata => new MetadataResponse(),
        ApiKey.OffsetCommit => new OffsetCommitResponse(),
        ApiKey.OffsetFetch => new OffsetFetchResponse(),
        ApiKey.FindCoordinator => new FindCoordinatorResponse(),
        ApiKey.JoinGroup => new JoinGroupResponse(),
        ApiKey.Heartbeat => new HeartbeatResponse(),
        ApiKey.LeaveGroup => new LeaveGroupResponse(),
        ApiKey.SyncGroup => new SyncGroupResponse(),
        ApiKey.DescribeGroups => new DescribeGroupsResponse(),
        ApiKey.ListGroups => new ListGroupsResponse(),
        ApiKey.SaslHandshake => new SaslHandshakeResponse(),
        ApiKey.ApiVersions => new ApiVersionsResponse(),
        ApiKey.CreateTopics => new CreateTopicsResponse(),
        ApiKey.DeleteTopics => new DeleteTopicsResponse(),
        ApiKey.DeleteRecords => new DeleteRecordsResponse(),
        ApiKey.InitProducerId => new InitProducerIdResponse(),
        ApiKey.OffsetForLeaderEpoch => new OffsetForLeaderEpochResponse(),
        ApiKey.DescribeConfigs => new DescribeConfigsResponse(),
        ApiKey.AlterConfigs => new AlterConfigsResponse(),
        ApiKey.SaslAuthenticate => new SaslAuthenticateResponse(),
        ApiKey.CreatePartitions => new CreatePartitionsResponse(),
        ApiKey.DeleteGroups => new DeleteGroupsResponse(),
        ApiKey.OffsetDelete => new OffsetDeleteResponse(),
        ApiKey.DescribeLogDirs => new DescribeLogDirsResponse(),
        ApiKey.IncrementalAlterConfigs => new IncrementalAlterConfigsResponse(),
        ApiKey.DescribeCluster => new DescribeClusterResponse(),
        ApiKey.ConsumerGroupHeartbeat => new ConsumerGroupHeartbeatResponse(),
        ApiKey.ConsumerGroupDescribe => new ConsumerGroupDescribeResponse(),
        ApiKey.DescribeUserScramCredentials => new DescribeUserScramCredentialsResponse(),
        ApiKey.AlterUserScramCredentials => new AlterUserScramCredentialsResponse(),
        _ => throw new ArgumentOutOfRangeException(nameof(key)),
    };

    /// <summary>
    /// Response header version: v1 (with a tagged-field section) when the response is flexible, except
    /// ApiVersions, whose response header is always v0 so that any client can read the error.
    /// </summary>
    public static bool ResponseHeaderHasTaggedFields(ApiKey key, short version) =>
        key != ApiKey.ApiVersions && IsFlexibleResponse(key, version);

    /// <summary>Writes a response header (correlation id, and tagged fields when <paramref name="key"/>'s version needs them).</summary>
    public static void WriteResponseHeader(ref KafkaWriter writer, ApiKey key, short version, int correlationId)
    {
        writer.WriteInt32(correlationId);
        if (ResponseHeaderHasTaggedFields(key, version))
        {
            writer.WriteEmptyTaggedFields();
        }
    }
}
