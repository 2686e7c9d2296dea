using LogBroker.Broker.Cluster;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>The controller's decisions on the fake store, leases expiring on a fake clock.</summary>
public sealed class ClusterControllerTests : IAsyncDisposable
{
    private static readonly Dictionary<string, string> NoConfigs = [];
    private readonly ControllerHarness _h = new();

    public ValueTask DisposeAsync() => _h.DisposeAsync();

    [Fact]
    public async Task Create_topic_records_assigned_partitions_and_refuses_duplicates_and_oversized_factors()
    {
        var ct = TestContext.Current.CancellationToken;
        var controller = await _h.StartThreeAsync(1);

        Assert.Equal(ControllerResult.Ok, await controller.CreateTopicAsync("orders", 3, 3, new Dictionary<string, string> { ["min.insync.replicas"] = "2" }, 0, ct));
        var states = await _h.PartitionsAsync("orders");
        Assert.Equal([1, 2, 3], states.Select(s => s.Leader));
        Assert.All(states, s => Assert.Equal(s.Replicas, s.Isr));
        Assert.All(states, s => Assert.Equal((0, 0), (s.LeaderEpoch, s.PartitionEpoch)));
        var topic = await _h.TopicAsync("orders");
        Assert.Equal("2", topic.Configs["min.insync.replicas"]);

        Assert.Equal(ControllerResult.TopicExists, await controller.CreateTopicAsync("orders", 1, 1, NoConfigs, 0, ct));
        Assert.Equal(ControllerResult.InvalidReplicationFactor, await controller.CreateTopicAsync("big", 1, 4, NoConfigs, 0, ct));
        Assert.Equal(ControllerResult.Ok, await controller.DeleteTopicAsync("orders", ct));
        Assert.Empty((await _h.Store.RangeAsync(_h.Keys.PartitionsPrefix, ct)).Items);
        Assert.Equal(ControllerResult.UnknownTopic, await controller.DeleteTopicAsync("orders", ct));
    }

    [Fact]
    public async Task A_deposed_controller_cannot_create_topics_or_move_leaders()
    {
        var ct = TestContext.Current.CancellationToken;
        var stale = await _h.StartThreeAsync(1);
        Assert.Equal(ControllerResult.Ok, await stale.CreateTopicAsync("t", 1, 3, NoConfigs, 0, ct));

        // Broker 1's lease runs out while it is paused: broker 2 becomes controller.
        await _h.ExpireAsync(1);
        var current = await _h.ElectAsync(2);
        Assert.True(current.Epoch > stale.Epoch);

        Assert.Equal(ControllerResult.Fenced, await stale.CreateTopicAsync("u", 1, 1, NoConfigs, 0, ct));
        Assert.Null(await _h.Store.GetAsync(_h.Keys.Topic("u"), ct));
        Assert.Equal(-1, await stale.HandleBrokerChangesAsync(ct));
        Assert.Equal(1, (await _h.PartitionsAsync("t"))[0].Leader);

        Assert.Equal(1, await current.HandleBrokerChangesAsync(ct));
        Assert.Equal(2, (await _h.PartitionsAsync("t"))[0].Leader);
    }

    [Fact]
    public async Task A_leader_whose_lease_expires_is_replaced_from_the_isr_with_bumped_epochs()
    {
        var ct = TestContext.Current.CancellationToken;
        var controller = await _h.StartThreeAsync(3);
        Assert.Equal(ControllerResult.Ok, await controller.CreateTopicAsync("t", 3, 3, NoConfigs, 0, ct));

        await _h.ExpireAsync(1);
        Assert.Equal(3, await controller.HandleBrokerChangesAsync(ct));
        var states = await _h.PartitionsAsync("t");
        Assert.All(states, s => Assert.NotEqual(1, s.Leader));
        Assert.All(states, s => Assert.DoesNotContain(1, s.Isr));
        Assert.Equal([1, 0, 0], states.Select(s => s.LeaderEpoch));
        Assert.All(states, s => Assert.Equal(1, s.PartitionEpoch));
        Assert.Equal(0, await controller.HandleBrokerChangesAsync(ct));
    }
}
