using System.Text;
using LogBroker.Broker.Cluster;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>
/// The behaviour every <see cref="IControllerStore"/> must have, run against the in-memory fake and a real
/// 3-member etcd cluster, so that unit tests on the fake mean what they say about etcd.
/// </summary>
public abstract class ControllerStoreContract
{
    /// <summary>A unique key prefix per test: the etcd cluster is shared by the class.</summary>
    protected string P { get; } = $"/t{Guid.NewGuid():N}/";

    protected abstract IControllerStore Store { get; }

    protected static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    protected static string S(byte[] b) => Encoding.UTF8.GetString(b);

    [Fact]
    public async Task Put_get_and_range_by_prefix_report_revisions()
    {
        var ct = TestContext.Current.CancellationToken;
        var r1 = await Store.PutAsync(P + "a", B("1"), 0, ct);
        var r2 = await Store.PutAsync(P + "b", B("2"), 0, ct);
        var r3 = await Store.PutAsync(P + "a", B("3"), 0, ct);
        await Store.PutAsync(P.TrimEnd('/') + "x/c", B("other"), 0, ct);
        Assert.True(r1 < r2 && r2 < r3);

        var a = await Store.GetAsync(P + "a", ct);
        Assert.NotNull(a);
        Assert.Equal("3", S(a.Value));
        Assert.Equal(r1, a.CreateRevision);
        Assert.Equal(r3, a.ModRevision);
        Assert.Equal(2, a.Version);
        Assert.Null(await Store.GetAsync(P + "missing", ct));

        var range = await Store.RangeAsync(P, ct);
        Assert.Equal([P + "a", P + "b"], range.Items.Select(i => i.Key));
        Assert.True(range.Revision >= r3);
    }

    [Fact]
    public async Task Compare_and_set_on_mod_revision_refuses_a_stale_writer()
    {
        var ct = TestContext.Current.CancellationToken;
        var created = await Store.TxnAsync([StoreCompare.Absent(P + "k")], [new StoreOp.Put(P + "k", B("v1"))], [], ct);
        Assert.True(created.Succeeded);
        var again = await Store.TxnAsync([StoreCompare.Absent(P + "k")], [new StoreOp.Put(P + "k", B("v2"))], [], ct);
        Assert.False(again.Succeeded);

        var kv = (await Store.GetAsync(P + "k", ct))!;
        Assert.Equal(created.Revision, kv.ModRevision);
        var first = await Store.TxnAsync([StoreCompare.ModifiedAt(P + "k", kv.ModRevision)], [new StoreOp.Put(P + "k", B("v3"))], [], ct);
        var stale = await Store.TxnAsync([StoreCompare.ModifiedAt(P + "k", kv.ModRevision)], [new StoreOp.Put(P + "k", B("v4"))], [], ct);
        Assert.True(first.Succeeded);
        Assert.False(stale.Succeeded);
        Assert.Equal("v3", S((await Store.GetAsync(P + "k", ct))!.Value));

        var byValue = await Store.TxnAsync(
            [StoreCompare.ValueIs(P + "k", B("v3")), new StoreCompare(P + "k", StoreCompareTarget.Version, 2)],
            [new StoreOp.Delete(P + "k")], [new StoreOp.Put(P + "wrong", B("x"))], ct);
        Assert.True(byValue.Succeeded);
        Assert.Null(await Store.GetAsync(P + "k", ct));
        Assert.Null(await Store.GetAsync(P + "wrong", ct));
    }

    [Fact]
    public async Task Failure_branch_runs_when_a_compare_fails_and_delete_prefix_removes_all()
    {
        var ct = TestContext.Current.CancellationToken;
        await Store.PutAsync(P + "d/1", B("1"), 0, ct);
        await Store.PutAsync(P + "d/2", B("2"), 0, ct);
        var result = await Store.TxnAsync(
            [StoreCompare.ModifiedAt(P + "d/1", 1)], [new StoreOp.Put(P + "wrong", B("x"))], [new StoreOp.DeletePrefix(P + "d/")], ct);
        Assert.False(result.Succeeded);
        Assert.Empty((await Store.RangeAsync(P, ct)).Items);
    }

    [Fact]
    public async Task Revoking_a_lease_deletes_its_keys_and_keep_alive_then_reports_it_gone()
    {
        var ct = TestContext.Current.CancellationToken;
        var lease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(30), ct);
        await Store.PutAsync(P + "leased", B("x"), lease, ct);
        await Store.PutAsync(P + "kept", B("y"), 0, ct);
        Assert.True(await Store.KeepAliveAsync(lease, ct));

        await Store.RevokeLeaseAsync(lease, ct);
        Assert.Null(await Store.GetAsync(P + "leased", ct));
        Assert.NotNull(await Store.GetAsync(P + "kept", ct));
        Assert.False(await Store.KeepAliveAsync(lease, ct));
        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.PutAsync(P + "late", B("z"), lease, ct));
    }

    [Fact]
    public async Task Watch_replays_from_a_revision_in_order_then_follows_live_changes()
    {
        var ct = TestContext.Current.CancellationToken;
        await Store.PutAsync(P + "before", B("0"), 0, ct);
        var from = await Store.PutAsync(P + "w/1", B("1"), 0, ct);
        await Store.PutAsync(P + "w/2", B("2"), 0, ct);
        await Store.TxnAsync([], [new StoreOp.Delete(P + "w/1")], [], ct);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        var seen = new List<StoreWatchEvent>();
        await using var watch = Store.WatchAsync(P + "w/", from, timeout.Token).GetAsyncEnumerator(timeout.Token);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(await watch.MoveNextAsync());
            seen.Add(watch.Current);
        }

        var live = await Store.PutAsync(P + "w/3", B("3"), 0, ct);
        Assert.True(await watch.MoveNextAsync());
        seen.Add(watch.Current);

        Assert.Equal([P + "w/1", P + "w/2", P + "w/1", P + "w/3"], seen.Select(e => e.Kv.Key));
        Assert.Equal([false, false, true, false], seen.Select(e => e.IsDelete));
        Assert.Equal(from, seen[0].Kv.ModRevision);
        Assert.Equal(live, seen[3].Kv.ModRevision);
        Assert.True(seen.Zip(seen.Skip(1)).All(p => p.First.Kv.ModRevision < p.Second.Kv.ModRevision));
    }

    [Fact]
    public async Task One_campaign_wins_the_epoch_is_its_revision_and_a_deposed_controller_is_fenced()
    {
        var ct = TestContext.Current.CancellationToken;
        var a = new ControllerElection(Store, 1, P + "controller");
        var b = new ControllerElection(Store, 2, P + "controller");
        var leaseA = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(30), ct);
        var leaseB = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(30), ct);

        var epochA = await a.TryCampaignAsync(leaseA, ct);
        Assert.NotNull(epochA);
        Assert.Null(await b.TryCampaignAsync(leaseB, ct));
        Assert.Equal((1, epochA.Value), await b.CurrentAsync(ct));
        Assert.True(await a.FencedWriteAsync(epochA.Value, [], [new StoreOp.Put(P + "meta", B("by-a"))], ct));

        // A's lease ends (a pause longer than its TTL): B takes over; A still holds its old epoch and tries to write.
        await Store.RevokeLeaseAsync(leaseA, ct);
        var epochB = await b.TryCampaignAsync(leaseB, ct);
        Assert.NotNull(epochB);
        Assert.True(epochB > epochA);
        Assert.False(await a.FencedWriteAsync(epochA.Value, [], [new StoreOp.Put(P + "meta", B("stale-a"))], ct));
        Assert.True(await b.FencedWriteAsync(epochB.Value, [], [new StoreOp.Put(P + "meta", B("by-b"))], ct));
        Assert.Equal("by-b", S((await Store.GetAsync(P + "meta", ct))!.Value));

        // A resigning with its stale epoch must not remove B's key.
        await a.ResignAsync(epochA.Value, ct);
        Assert.Equal((2, epochB.Value), await a.CurrentAsync(ct));
    }
}
