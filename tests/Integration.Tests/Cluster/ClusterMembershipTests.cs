using System.Text;
using LogBroker.Broker.Cluster;
using LogBroker.Broker.Replication;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests.Cluster;

/// <summary>
/// Three real broker processes in cluster mode on a real 3-member etcd cluster: registration under leases,
/// one controller, and after the controller broker is killed -9, its lease expiring, a new controller that
/// moves the dead broker's partition leaders to ISR members. Lease TTL 2 s; every wait bounded.
/// </summary>
public sealed class ClusterMembershipTests
{
    [Fact]
    public async Task Killing_the_controller_broker_expires_its_lease_and_a_new_controller_elects_leaders_from_the_isr()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var etcd = await EtcdCluster.StartAsync(3);
        await using var store = new EtcdControllerStore(etcd.Endpoints, TimeSpan.FromSeconds(5));
        var keys = new ClusterKeys();
        using var dirs = new TempDirectory("cluster");
        var brokers = new Dictionary<int, BrokerProcess>();
        try
        {
            for (var id = 1; id <= 3; id++)
            {
                Directory.CreateDirectory(dirs.Combine($"b{id}"));
                string[] settings = [$"--Broker:NodeId={id}", "--Cluster:LeaseTtl=00:00:02", .. etcd.Endpoints.Select((e, i) => $"--Cluster:Etcd:Endpoints:{i}={e}")];
                brokers[id] = await BrokerProcess.StartAsync(dirs.Combine($"b{id}"), BrokerProcess.FreePort(), settings);
            }

            var registered = await WaitForAsync(async () => (await store.RangeAsync(keys.BrokersPrefix, ct)).Items, items => items.Count == 3);
            Assert.Equal([keys.Broker(1), keys.Broker(2), keys.Broker(3)], registered.Select(kv => kv.Key));
            foreach (var kv in registered)
            {
                var broker = ClusterJson.Decode<BrokerRegistration>(kv.Value)!;
                Assert.Equal(brokers[broker.Id].Port, broker.Port);
                Assert.NotEqual(0, kv.Lease);
            }

            var controller = await WaitForAsync(() => store.GetAsync(keys.Controller, ct), kv => kv is not null);
            var controllerId = int.Parse(Encoding.UTF8.GetString(controller!.Value), System.Globalization.CultureInfo.InvariantCulture);

            // A partition led by the controller broker, written as the controller would (fenced on its epoch).
            var election = new ControllerElection(store, controllerId);
            var others = Enumerable.Range(1, 3).Where(id => id != controllerId).ToArray();
            var state = new PartitionState("t", 0, controllerId, 0, [controllerId, .. others], [controllerId, others[1]], 0);
            Assert.True(await election.FencedWriteAsync(
                controller.CreateRevision, [], [new StoreOp.Put(keys.Partition("t", 0), ClusterJson.Encode(state))], ct));

            await brokers[controllerId].KillAsync();
            var gone = await WaitForAsync(() => store.GetAsync(keys.Broker(controllerId), ct), kv => kv is null);
            Assert.Null(gone);
            var successor = await WaitForAsync(() => store.GetAsync(keys.Controller, ct), kv => kv is not null && kv.CreateRevision > controller.CreateRevision);
            Assert.NotEqual(controllerId.ToString(System.Globalization.CultureInfo.InvariantCulture), Encoding.UTF8.GetString(successor!.Value));

            var moved = await WaitForAsync(
                async () => ClusterJson.DecodePartition((await store.GetAsync(keys.Partition("t", 0), ct))!.Value)!, s => s.Leader != controllerId);
            Assert.Equal(others[1], moved.Leader); // the only other ISR member, not the out-of-sync replica others[0]
            Assert.Equal(1, moved.LeaderEpoch);
            Assert.Equal([others[1]], moved.Isr);
            Assert.Equal(1, moved.PartitionEpoch);
        }
        finally
        {
            foreach (var broker in brokers.Values)
            {
                await broker.DisposeAsync();
            }
        }
    }

    // Polls a condition every 100 ms for at most 30 s: returns the last value read (the assertion after it reports a miss).
    private static async Task<T> WaitForAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var value = await read();
        for (var attempt = 0; attempt < 300 && !done(value); attempt++)
        {
            await Task.Delay(100);
            value = await read();
        }

        return value;
    }
}
