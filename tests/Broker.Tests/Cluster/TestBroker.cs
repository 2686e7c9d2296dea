using LogBroker.Broker.Cluster;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Producers;
using LogBroker.Storage;
using LogBroker.TestKit;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>
/// One broker's cluster session for control-plane tests: a <see cref="ClusterService"/> over a shared
/// (usually fake) store, with its own data directory, topic registry, metadata cache and materialiser, as
/// the broker wires them, and no data plane.
/// </summary>
internal sealed class TestBroker : IDisposable
{
    private readonly TempDirectory _dir = new("cluster-broker");
    private readonly LogManager _logs;
    private readonly TopicRegistry _topics;

    public TestBroker(IControllerStore store, ClusterOptions options, int id)
    {
        _logs = LogManager.Open(new StorageOptions { DataDirectory = _dir.Path }, TimeProvider.System);
        _topics = new TopicRegistry(_logs, LogConfig.Default, NullLogger<TopicRegistry>.Instance);
        var cache = new ClusterMetadataCache();
        var materializer = new TopicMaterializer(_topics, new ProducerStates(), cache, new NoReplicaManager(), id, NullLogger<TopicMaterializer>.Instance);
        Service = new ClusterService(store, options, id, () => new BrokerRegistration(id, "127.0.0.1", 9000 + id, null), cache, materializer, _topics.ClusterId, NullLogger<ClusterService>.Instance);
    }

    public ClusterService Service { get; }

    public void Dispose()
    {
        Service.Dispose();
        _topics.Dispose();
        _logs.Dispose();
        _dir.Dispose();
    }
}
