using LogBroker.Protocol.Messages;

namespace LogBroker.Client.Network;

/// <summary>
/// The versions of each API this client speaks; a connection uses the highest one the broker also
/// supports. Upper bounds are where the client's handling of the message stops (Fetch stays below
/// v13, which names topics by id only; FindCoordinator below v4, which batches keys).
/// </summary>
internal static class ClientVersions
{
    public static (short Min, short Max) Range(ApiKey key) => key switch
    {
        ApiKey.Produce => (3, 9),
        ApiKey.Fetch => (4, 12),
        ApiKey.ListOffsets => (1, 7),
        ApiKey.Metadata => (1, 12),
        ApiKey.OffsetCommit => (2, 9),
        ApiKey.OffsetFetch => (1, 7),
        ApiKey.FindCoordinator => (0, 3),
        ApiKey.JoinGroup => (0, 9),
        ApiKey.Heartbeat => (0, 4),
        ApiKey.LeaveGroup => (0, 5),
        ApiKey.SyncGroup => (0, 5),
        ApiKey.DescribeGroups => (0, 5),
        ApiKey.ListGroups => (0, 4),
        ApiKey.ApiVersions => (0, 3),
        ApiKey.CreateTopics => (2, 7),
        ApiKey.DeleteTopics => (1, 5),
        ApiKey.DeleteRecords => (0, 2),
        ApiKey.InitProducerId => (0, 4),
        ApiKey.DescribeConfigs => (1, 4),
        ApiKey.AlterConfigs => (0, 2),
        ApiKey.CreatePartitions => (0, 3),
        ApiKey.DeleteGroups => (0, 2),
        ApiKey.OffsetDelete => (0, 0),
        ApiKey.IncrementalAlterConfigs => (0, 1),
        ApiKey.DescribeCluster => (0, 1),
        ApiKey.DescribeLogDirs => (1, 4),
        ApiKey.ConsumerGroupHeartbeat => (0, 0),
        ApiKey.ConsumerGroupDescribe => (0, 0),
        ApiKey.ElectLeaders => (0, 2),
        ApiKey.AlterPartitionReassignments => (0, 0),
        _ => (0, -1),
    };
}
