using LogBroker.Broker.Cluster;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>The store contract on the in-memory fake, plus lease expiry on a fake clock.</summary>
public sealed class FakeControllerStoreTests : ControllerStoreContract, IAsyncDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly FakeControllerStore _store;

    public FakeControllerStoreTests() => _store = new FakeControllerStore(_time);

    protected override IControllerStore Store => _store;

    public ValueTask DisposeAsync() => _store.DisposeAsync();

    [Fact]
    public async Task An_expired_lease_deposes_the_controller_and_its_writes_are_refused()
    {
        var ct = TestContext.Current.CancellationToken;
        var a = new ControllerElection(_store, 1);
        var b = new ControllerElection(_store, 2);
        var leaseA = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(3), ct);
        var epochA = (await a.TryCampaignAsync(leaseA, ct))!.Value;

        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(await _store.KeepAliveAsync(leaseA, ct));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, (await b.CurrentAsync(ct))?.BrokerId);

        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Null(await b.CurrentAsync(ct));
        Assert.False(await _store.KeepAliveAsync(leaseA, ct));
        var leaseB = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(3), ct);
        var epochB = (await b.TryCampaignAsync(leaseB, ct))!.Value;
        Assert.True(epochB > epochA);
        Assert.False(await a.FencedWriteAsync(epochA, [], [new StoreOp.Put("/x", [1])], ct));
    }

    [Fact]
    public async Task A_watch_from_a_compacted_revision_throws_so_the_caller_relists()
    {
        var ct = TestContext.Current.CancellationToken;
        var r1 = await _store.PutAsync("/c/1", [1], 0, ct);
        await _store.PutAsync("/c/2", [2], 0, ct);
        _store.Compact(r1);
        await Assert.ThrowsAsync<StoreCompactedException>(async () =>
        {
            await foreach (var unused in _store.WatchAsync("/c/", r1, ct))
            {
                _ = unused;
            }
        });
    }
}
