using LogBroker.Broker.Metadata;
using LogBroker.Broker.Producers;
using LogBroker.Broker.Replication;
using LogBroker.Protocol;
using LogBroker.Storage;
using LogBroker.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>
/// The real replica manager of broker 1 over a real log of topic <c>t</c> (one partition), the control plane
/// played by the test: its ISR sink, broker directory and clock are the test's.
/// </summary>
internal sealed class OneBrokerReplicas : IAsyncDisposable
{
    private readonly TempDirectory _dir;
    private readonly LogManager _logs;
    private readonly ServiceProvider _services;

    public OneBrokerReplicas(string name, IIsrChangeSink sink, IBrokerDirectory directory, TimeProvider time, ReplicationOptions options)
    {
        _dir = new TempDirectory(name);
        _logs = LogManager.Open(new StorageOptions { DataDirectory = _dir.Path }, TimeProvider.System);
        Topics = new TopicRegistry(_logs, LogConfig.Default, NullLogger<TopicRegistry>.Instance);
        Assert.Equal(ErrorCode.None, Topics.Create("t", 1, new Dictionary<string, string?>(), validateOnly: false, out _));
        _services = new ServiceCollection().AddSingleton(directory).BuildServiceProvider();
        Replicas = new ReplicaManager(Topics, new ProducerStates(), new ClusterInfo(new BrokerOptions { NodeId = 1 }), sink,
            _services, options, time, NullLogger<ReplicaManager>.Instance);
    }

    public TopicRegistry Topics { get; }

    public ReplicaManager Replicas { get; }

    public async ValueTask DisposeAsync()
    {
        await Replicas.StopAsync(CancellationToken.None);
        Replicas.Dispose();
        await _services.DisposeAsync();
        Topics.Dispose();
        _logs.Dispose();
        _dir.Dispose();
    }
}
