using LogBroker.Broker.Cluster;
using LogBroker.Broker.Replication;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>
/// A control plane on the fake store for controller tests: brokers registered under leases that expire on a
/// fake clock, a controller elected among them, and the ISR changed the way a leader changes it
/// (through <see cref="StoreIsrChangeSink"/>), so that tests drive by hand what the data plane would do.
/// </summary>
public sealed class ControllerHarness : IAsyncDisposable
{
    private readonly Dictionary<int, long> _leases = [];

    public ControllerHarness() => Store = new FakeControllerStore(Time);

    public FakeTimeProvider Time { get; } = new();

    public FakeControllerStore Store { get; }

    public ClusterKeys Keys { get; } = new();

    public ValueTask DisposeAsync() => Store.DisposeAsync();

    public async Task RegisterAsync(params int[] ids)
    {
        var registrar = new BrokerRegistrar(Store, Keys);
        foreach (var id in ids)
        {
            var lease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(3), default);
            _leases[id] = lease;
            Assert.NotNull(await registrar.RegisterAsync(new BrokerRegistration(id, "127.0.0.1", 9000 + id, null), lease, default));
        }
    }

    /// <summary>Registers brokers 1, 2 and 3 and elects <paramref name="controllerId"/> among them.</summary>
    public async Task<ClusterController> StartThreeAsync(int controllerId)
    {
        await RegisterAsync(1, 2, 3);
        return await ElectAsync(controllerId);
    }

    public async Task<ClusterController> ElectAsync(int id, bool unclean = false)
    {
        var election = new ControllerElection(Store, id, Keys.Controller);
        var epoch = await election.TryCampaignAsync(_leases[id], default);
        Assert.NotNull(epoch);
        return new ClusterController(Store, Keys, election, epoch.Value, unclean);
    }

    /// <summary>Every other broker keeps its lease alive; the ones named stop and the clock passes their TTL.</summary>
    public async Task ExpireAsync(params int[] ids)
    {
        for (var step = 0; step < 2; step++)
        {
            Time.Advance(TimeSpan.FromSeconds(2));
            foreach (var (other, lease) in _leases)
            {
                if (!ids.Contains(other))
                {
                    Assert.True(await Store.KeepAliveAsync(lease, default));
                }
            }
        }

        foreach (var id in ids)
        {
            _leases.Remove(id);
            Assert.Null(await Store.GetAsync(Keys.Broker(id), default));
        }
    }

    public async Task<PartitionState> StateAsync(string topic, int partition) =>
        ClusterJson.DecodePartition((await Store.GetAsync(Keys.Partition(topic, partition), default))!.Value)!;

    public async Task<TopicRecord> TopicAsync(string name) =>
        ClusterJson.Decode<TopicRecord>((await Store.GetAsync(Keys.Topic(name), default))!.Value)!;

    /// <summary>Every partition state of <paramref name="topic"/>, by partition number.</summary>
    public async Task<List<PartitionState>> PartitionsAsync(string topic)
    {
        var range = await Store.RangeAsync(Keys.TopicPartitions(topic), default);
        return [.. range.Items.Select(kv => ClusterJson.DecodePartition(kv.Value)!).OrderBy(s => s.Partition)];
    }

    /// <summary>What the partition's leader does when followers fall behind or catch up: it records a new ISR.</summary>
    public async Task<PartitionState> LeaderSetsIsrAsync(string topic, int partition, params int[] isr)
    {
        var state = await StateAsync(topic, partition);
        var next = await new StoreIsrChangeSink(Store, Keys, state.Leader).AlterIsrAsync(state, isr, default);
        Assert.NotNull(next);
        return next;
    }
}
