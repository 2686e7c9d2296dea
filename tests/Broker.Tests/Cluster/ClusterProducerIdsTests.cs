using LogBroker.Broker.Cluster;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>
/// Producer ids in cluster mode are unique across the brokers: each takes blocks from the store's counter by
/// compare-and-set, so concurrent takers never share a block, and a restarted broker (a new allocator) never
/// hands out an id again.
/// </summary>
public sealed class ClusterProducerIdsTests
{
    [Fact]
    public async Task Three_brokers_taking_ids_at_once_never_hand_out_the_same_id_and_a_restart_continues_past_them()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var store = new FakeControllerStore();
        var options = new ClusterOptions();
        using var b1 = new TestBroker(store, options, 1);
        using var b2 = new TestBroker(store, options, 2);
        using var b3 = new TestBroker(store, options, 3);
        using var ids1 = new ClusterProducerIds(b1.Service);
        using var ids2 = new ClusterProducerIds(b2.Service);
        using var ids3 = new ClusterProducerIds(b3.Service);

        // 2,500 ids from each broker, taken concurrently: several blocks each, the counter contended.
        const int PerBroker = 2500;
        var taken = await Task.WhenAll(
            Task.Run(() => TakeAsync(ids1, PerBroker, ct), ct), Task.Run(() => TakeAsync(ids2, PerBroker, ct), ct), Task.Run(() => TakeAsync(ids3, PerBroker, ct), ct));
        long[] all = [.. taken.SelectMany(t => t)];
        Assert.Equal(3 * PerBroker, all.Length);
        Assert.Equal(all.Length, all.Distinct().Count());
        Assert.All(all, id => Assert.InRange(id, 0, 9 * ClusterProducerIds.BlockSize)); // 3 blocks each at most

        // Broker 1 restarted: a fresh allocator takes a new block, past everything handed out before.
        using var restarted = new ClusterProducerIds(b1.Service);
        long next = (await restarted.NextAsync(ct))!.Value;
        Assert.True(next > all.Max(), $"{next} after a restart; {all.Max()} handed out before");
        Assert.Equal(0, next % ClusterProducerIds.BlockSize);
    }

    private static async Task<List<long>> TakeAsync(ClusterProducerIds ids, int count, CancellationToken ct)
    {
        var taken = new List<long>(count);
        for (int i = 0; i < count; i++)
        {
            taken.Add((await ids.NextAsync(ct))!.Value);
        }

        return taken;
    }
}
