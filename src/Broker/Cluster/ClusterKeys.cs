using System.Globalization;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// The controller store's key layout. Under the configured root (default empty):
/// <c>/controller</c> (the elected controller's id, under its lease; create revision = controller epoch),
/// <c>/producer_ids</c> (the next free producer id),
/// <c>/brokers/{id}</c> (a live broker's <see cref="BrokerRegistration"/>, under its lease),
/// <c>/topics/{name}</c> (a <see cref="TopicRecord"/>),
/// <c>/partitions/{topic}/{p}</c> (a partition's <see cref="Replication.PartitionState"/>).
/// </summary>
public sealed class ClusterKeys(string root = "")
{
    /// <summary>The controller election key.</summary>
    public string Controller => root + "/controller";

    /// <summary>The cluster id, written once by the first broker to start (create-if-absent).</summary>
    public string ClusterId => root + "/cluster_id";

    /// <summary>The next producer id no broker has taken yet (decimal text); brokers take blocks from it by compare-and-set.</summary>
    public string ProducerIds => root + "/producer_ids";

    /// <summary>The prefix of every broker registration.</summary>
    public string BrokersPrefix => root + "/brokers/";

    /// <summary>The prefix of every topic record.</summary>
    public string TopicsPrefix => root + "/topics/";

    /// <summary>The prefix of every partition state.</summary>
    public string PartitionsPrefix => root + "/partitions/";

    /// <summary>A broker's registration key.</summary>
    public string Broker(int id) => BrokersPrefix + id.ToString(CultureInfo.InvariantCulture);

    /// <summary>A topic's record key.</summary>
    public string Topic(string name) => TopicsPrefix + name;

    /// <summary>The prefix of a topic's partition states (the trailing slash keeps "a" from matching "ab").</summary>
    public string TopicPartitions(string topic) => PartitionsPrefix + topic + "/";

    /// <summary>A partition's state key.</summary>
    public string Partition(string topic, int partition) => TopicPartitions(topic) + partition.ToString(CultureInfo.InvariantCulture);
}
