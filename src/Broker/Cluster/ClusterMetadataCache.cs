using System.Collections.Concurrent;
using LogBroker.Broker.Replication;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// What this broker last saw of the cluster, from the watches <see cref="ClusterService"/> runs: every
/// registered broker, the controller, every topic record and every partition state (Kafka's MetadataCache).
/// Metadata, DescribeCluster, FindCoordinator and the cluster metrics answer from it. Writers are the watch
/// loops (one per prefix, each in revision order); readers take no lock and see each entry whole (records are
/// immutable and replaced, never changed in place), so a reader may see a topic a moment before its partition
/// states, never half a state.
/// </summary>
public sealed class ClusterMetadataCache
{
    private readonly ConcurrentDictionary<int, BrokerRegistration> _brokers = new();
    private readonly ConcurrentDictionary<string, TopicRecord> _topics = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Topic, int Partition), PartitionState> _partitions = new();
    private long _controller = -1;
    private long _leaderChanges;
    private volatile string _clusterId = "";

    /// <summary>The cluster id every broker answers (the first registered broker's, kept in the store); empty until read.</summary>
    public string ClusterId
    {
        get => _clusterId;
        internal set => _clusterId = value;
    }

    /// <summary>The registered brokers, by id.</summary>
    public IReadOnlyDictionary<int, BrokerRegistration> Brokers => _brokers;

    /// <summary>The controller's broker id, or -1 when there is none (an election is under way).</summary>
    public int ControllerId => (int)Interlocked.Read(ref _controller);

    /// <summary>The topic records, by name.</summary>
    public IReadOnlyDictionary<string, TopicRecord> Topics => _topics;

    /// <summary>Leader changes seen (a partition state whose leader differs from the one before it), since start.</summary>
    public long LeaderChanges => Interlocked.Read(ref _leaderChanges);

    /// <summary>Whether the broker is registered now.</summary>
    public bool IsLive(int brokerId) => _brokers.ContainsKey(brokerId);

    /// <summary>A partition's last seen state, or null.</summary>
    public PartitionState? Partition(string topic, int partition) => _partitions.GetValueOrDefault((topic, partition));

    /// <summary>A topic's last seen record, or null.</summary>
    public TopicRecord? Topic(string name) => _topics.GetValueOrDefault(name);

    /// <summary>A topic by id, or null (a scan: ids are asked for rarely, by Metadata v12 and DeleteTopics v6).</summary>
    public TopicRecord? Topic(Guid id)
    {
        foreach (var topic in _topics.Values)
        {
            if (topic.TopicId == id)
            {
                return topic;
            }
        }

        return null;
    }

    /// <summary>Every partition state, in no order (metrics and status).</summary>
    public ICollection<PartitionState> Partitions => _partitions.Values;

    internal void CountLeaderChange() => Interlocked.Increment(ref _leaderChanges);

    internal void SetBroker(BrokerRegistration broker) => _brokers[broker.Id] = broker;

    internal void RemoveBroker(int id) => _brokers.TryRemove(id, out _);

    internal void ClearBrokers() => _brokers.Clear();

    internal void SetController(int id) => Interlocked.Exchange(ref _controller, id);

    internal void SetTopic(TopicRecord topic) => _topics[topic.Name] = topic;

    internal void RemoveTopic(string name) => _topics.TryRemove(name, out _);

    internal void SetPartition(PartitionState state) => _partitions[(state.Topic, state.Partition)] = state;

    internal void RemovePartition(string topic, int partition) => _partitions.TryRemove((topic, partition), out _);
}
