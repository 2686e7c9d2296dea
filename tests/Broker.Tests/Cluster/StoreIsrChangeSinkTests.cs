using LogBroker.Broker.Cluster;
using LogBroker.Broker.Replication;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>AlterPartition semantics of the ISR sink on the fake store.</summary>
public sealed class StoreIsrChangeSinkTests : IAsyncDisposable
{
    private readonly FakeControllerStore _store = new();
    private readonly ClusterKeys _keys = new();

    public ValueTask DisposeAsync() => _store.DisposeAsync();

    [Fact]
    public async Task The_leader_shrinks_and_expands_the_isr_with_the_partition_epoch_bumped()
    {
        var ct = TestContext.Current.CancellationToken;
        var state = await SetUpAsync(registered: [1, 2, 3]);
        var sink = new StoreIsrChangeSink(_store, _keys, 1);

        var shrunk = await sink.AlterIsrAsync(state, [1, 2], ct);
        Assert.NotNull(shrunk);
        Assert.Equal([1, 2], shrunk.Isr);
        Assert.Equal(state.PartitionEpoch + 1, shrunk.PartitionEpoch);
        Assert.Equal(ClusterJson.Encode(shrunk), ClusterJson.Encode(await RecordedAsync()));

        var expanded = await sink.AlterIsrAsync(shrunk, [1, 2, 3], ct);
        Assert.Equal([1, 2, 3], expanded!.Isr);
    }

    [Fact]
    public async Task A_stale_partition_epoch_a_non_leader_and_an_unregistered_joiner_are_refused()
    {
        var ct = TestContext.Current.CancellationToken;
        var state = await SetUpAsync(registered: [1, 2]);
        var sink = new StoreIsrChangeSink(_store, _keys, 1);
        var shrunk = (await sink.AlterIsrAsync(state, [1, 2], ct))!;

        Assert.Null(await sink.AlterIsrAsync(state, [1], ct));
        Assert.Null(await new StoreIsrChangeSink(_store, _keys, 2).AlterIsrAsync(shrunk with { Leader = 2 }, [2], ct));
        Assert.Null(await sink.AlterIsrAsync(shrunk, [1, 2, 3], ct));
        Assert.Null(await sink.AlterIsrAsync(shrunk, [1, 2, 4], ct));
        Assert.Equal(ClusterJson.Encode(shrunk), ClusterJson.Encode(await RecordedAsync()));
    }

    private async Task<PartitionState> SetUpAsync(int[] registered)
    {
        var registrar = new BrokerRegistrar(_store, _keys);
        foreach (var id in registered)
        {
            var lease = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(30), default);
            await registrar.RegisterAsync(new BrokerRegistration(id, "127.0.0.1", 9000 + id, null), lease, default);
        }

        var state = new PartitionState("t", 0, 1, 2, [1, 2, 3], [1, 2, 3], 5);
        await _store.PutAsync(_keys.Partition("t", 0), ClusterJson.Encode(state), 0, default);
        return state;
    }

    private async Task<PartitionState?> RecordedAsync() =>
        ClusterJson.DecodePartition((await _store.GetAsync(_keys.Partition("t", 0), default))!.Value);
}
