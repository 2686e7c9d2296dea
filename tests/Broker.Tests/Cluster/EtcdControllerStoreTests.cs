using LogBroker.Broker.Cluster;
using LogBroker.TestKit;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>A real 3-member etcd cluster shared by the class.</summary>
public sealed class EtcdClusterFixture : IAsyncLifetime
{
    public EtcdCluster Cluster { get; private set; } = null!;

    public EtcdControllerStore Store { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Cluster = await EtcdCluster.StartAsync(3);
        Store = new EtcdControllerStore(Cluster.Endpoints, TimeSpan.FromSeconds(5));
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        await Cluster.DisposeAsync();
    }
}

/// <summary>The store contract against real etcd (etcd-server from Debian; .ci/run installs it).</summary>
public sealed class EtcdControllerStoreTests(EtcdClusterFixture fixture) : ControllerStoreContract, IClassFixture<EtcdClusterFixture>
{
    protected override IControllerStore Store => fixture.Store;

    [Fact]
    public async Task A_lease_not_kept_alive_expires_and_its_key_goes()
    {
        var ct = TestContext.Current.CancellationToken;
        var lease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(1), ct);
        await Store.PutAsync(P + "brief", [1], lease, ct);
        for (var i = 0; i < 100 && await Store.GetAsync(P + "brief", ct) is not null; i++)
        {
            await Task.Delay(100, ct);
        }

        Assert.Null(await Store.GetAsync(P + "brief", ct));
        Assert.False(await Store.KeepAliveAsync(lease, ct));
    }
}
