namespace LogBroker.Client.Admin;

/// <summary>
/// An admin client (implemented by <see cref="AdminClient"/>); depend on this to fake it in tests.
/// </summary>
public interface IAdminClient : IAsyncDisposable
{
    /// <summary>The cluster id reported by the brokers.</summary>
    Task<string?> ClusterIdAsync(CancellationToken cancellationToken = default);

    /// <summary>Creates topics; throws for the first one the broker refuses (e.g. TOPIC_ALREADY_EXISTS).</summary>
    Task CreateTopicsAsync(IEnumerable<NewTopic> topics, CancellationToken cancellationToken = default);

    /// <summary>Deletes topics and all their records.</summary>
    Task DeleteTopicsAsync(IEnumerable<string> topics, CancellationToken cancellationToken = default);

    /// <summary>Names of all topics (internal ones excluded unless asked for).</summary>
    Task<IReadOnlyList<string>> ListTopicsAsync(bool includeInternal = false, CancellationToken cancellationToken = default);

    /// <summary>Describes topics (null: every topic); throws for a topic that does not exist.</summary>
    Task<IReadOnlyList<TopicDescription>> DescribeTopicsAsync(IEnumerable<string>? topics, CancellationToken cancellationToken = default);

    /// <summary>The cluster: its id, the controller and every registered broker.</summary>
    Task<ClusterDescription> DescribeClusterAsync(CancellationToken cancellationToken = default);

    /// <summary>Raises the partition count of <paramref name="topic"/> to <paramref name="totalCount"/>.</summary>
    Task CreatePartitionsAsync(string topic, int totalCount, CancellationToken cancellationToken = default);

    /// <summary>The configs of a topic, defaults included.</summary>
    Task<IReadOnlyList<ConfigEntry>> DescribeTopicConfigsAsync(string topic, CancellationToken cancellationToken = default);

    /// <summary>Sets or removes topic configs (incrementally: other configs keep their values).</summary>
    Task AlterTopicConfigsAsync(string topic, IEnumerable<ConfigChange> changes, CancellationToken cancellationToken = default);

    /// <summary>Every group the brokers know.</summary>
    Task<IReadOnlyList<GroupListing>> ListGroupsAsync(CancellationToken cancellationToken = default);

    /// <summary>Describes groups: state, protocol, members and their assignments.</summary>
    Task<IReadOnlyList<GroupDescription>> DescribeGroupsAsync(IEnumerable<string> groups, CancellationToken cancellationToken = default);

    /// <summary>Deletes groups (they must have no members) and their committed offsets.</summary>
    Task DeleteGroupsAsync(IEnumerable<string> groups, CancellationToken cancellationToken = default);

    /// <summary>
    /// A group's committed offsets: of <paramref name="partitions"/>, or of every partition it committed
    /// when null. A partition without a commit has offset -1.
    /// </summary>
    Task<IReadOnlyList<TopicPartitionOffset>> ListGroupOffsetsAsync(string group, IEnumerable<TopicPartition>? partitions = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Sets a group's committed offsets (the next offset each partition's consumer reads). The broker
    /// refuses while the group has active members.
    /// </summary>
    Task AlterGroupOffsetsAsync(string group, IEnumerable<TopicPartitionOffset> offsets, CancellationToken cancellationToken = default);

    /// <summary>Looks up offsets by <paramref name="spec"/> for each partition, at each partition's leader.</summary>
    Task<IReadOnlyList<ListedOffset>> ListOffsetsAsync(IEnumerable<TopicPartition> partitions, OffsetSpec spec, CancellationToken cancellationToken = default);

    /// <summary>Deletes the records before each given offset; returns each partition's new log start offset.</summary>
    Task<IReadOnlyList<TopicPartitionOffset>> DeleteRecordsAsync(IEnumerable<TopicPartitionOffset> before, CancellationToken cancellationToken = default);

    /// <summary>
    /// The size on disk of each partition of <paramref name="topics"/> (null: every topic), summed over the
    /// brokers that hold it (DescribeLogDirs).
    /// </summary>
    Task<IReadOnlyList<PartitionSize>> DescribeLogDirsAsync(IEnumerable<string>? topics, CancellationToken cancellationToken = default);
}
