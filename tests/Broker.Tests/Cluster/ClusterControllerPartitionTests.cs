using LogBroker.Broker.Cluster;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>CreatePartitions, explicit assignments, validate_only and the offsets topic on the fake store; the group-to-partition rule.</summary>
public sealed class ClusterControllerPartitionTests : IAsyncDisposable
{
    private static readonly Dictionary<string, string> NoConfigs = [];
    private readonly ControllerHarness _h = new();

    public ValueTask DisposeAsync() => _h.DisposeAsync();

    [Fact]
    public async Task CreatePartitions_records_the_grown_topic_and_new_states_and_refuses_shrinking_unknown_and_bad_assignments()
    {
        var ct = TestContext.Current.CancellationToken;
        var controller = await _h.StartThreeAsync(1);
        Assert.Equal(ControllerResult.Ok, await controller.CreateTopicAsync("t", 2, 2, NoConfigs, 0, ct));

        Assert.Equal(ControllerResult.Ok, await controller.CreatePartitionsAsync("t", 4, null, false, 0, ct));
        var states = await _h.PartitionsAsync("t");
        Assert.Equal([0, 1, 2, 3], states.Select(s => s.Partition));
        Assert.All(states, s => Assert.Equal(2, s.Replicas.Distinct().Count()));
        Assert.Equal(4, (await _h.TopicAsync("t")).Partitions);

        Assert.Equal(ControllerResult.Ok, await controller.CreatePartitionsAsync("t", 5, [[3, 1]], false, 0, ct));
        Assert.Equal([3, 1], (await _h.PartitionsAsync("t"))[4].Replicas);
        Assert.Equal(3, (await _h.PartitionsAsync("t"))[4].Leader);

        Assert.Equal(ControllerResult.InvalidPartitions, await controller.CreatePartitionsAsync("t", 5, null, false, 0, ct));
        Assert.Equal(ControllerResult.UnknownTopic, await controller.CreatePartitionsAsync("nope", 5, null, false, 0, ct));
        Assert.Equal(ControllerResult.InvalidReplicaAssignment, await controller.CreatePartitionsAsync("t", 6, [[1, 9]], false, 0, ct)); // unregistered
        Assert.Equal(ControllerResult.InvalidReplicaAssignment, await controller.CreatePartitionsAsync("t", 6, [[1, 2, 3]], false, 0, ct)); // factor 3, topic's is 2
        Assert.Equal(ControllerResult.InvalidReplicaAssignment, await controller.CreatePartitionsAsync("t", 6, [[1, 1]], false, 0, ct)); // twice
        Assert.Equal(ControllerResult.Ok, await controller.CreatePartitionsAsync("t", 9, null, true, 0, ct)); // validate only
        Assert.Equal(5, (await _h.PartitionsAsync("t")).Count);
        Assert.Equal(5, (await _h.TopicAsync("t")).Partitions);
    }

    [Fact]
    public async Task A_deposed_controller_cannot_add_partitions()
    {
        var ct = TestContext.Current.CancellationToken;
        var stale = await _h.StartThreeAsync(1);
        Assert.Equal(ControllerResult.Ok, await stale.CreateTopicAsync("t", 1, 2, NoConfigs, 0, ct));
        await _h.ExpireAsync(1);
        _ = await _h.ElectAsync(2);

        Assert.Equal(ControllerResult.Fenced, await stale.CreatePartitionsAsync("t", 3, null, false, 0, ct));
        Assert.Single(await _h.PartitionsAsync("t"));
        Assert.Equal(1, (await _h.TopicAsync("t")).Partitions);
    }

    [Fact]
    public async Task Explicit_assignments_are_recorded_as_given_and_validate_only_writes_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        var controller = await _h.StartThreeAsync(2);
        var (checkedOnly, _) = await controller.CreateTopicAsync("a", 3, 3, null, NoConfigs, true, 0, ct);
        Assert.Equal(ControllerResult.Ok, checkedOnly);
        Assert.Null(await _h.Store.GetAsync(_h.Keys.Topic("a"), ct));

        var (result, record) = await controller.CreateTopicAsync("a", -1, -1, [[3, 2], [2, 1]], NoConfigs, false, 0, ct);
        Assert.Equal(ControllerResult.Ok, result);
        Assert.Equal((2, 2), (record!.Partitions, record.ReplicationFactor));
        Assert.Equal([[3, 2], [2, 1]], (await _h.PartitionsAsync("a")).Select(s => s.Replicas.ToArray()));
        Assert.Equal(ControllerResult.InvalidReplicaAssignment, (await controller.CreateTopicAsync("b", -1, -1, [[3, 2], [1]], NoConfigs, false, 0, ct)).Result);
    }

    [Fact]
    public async Task The_offsets_topic_gets_fewer_replicas_when_fewer_brokers_are_registered_and_is_created_once()
    {
        var ct = TestContext.Current.CancellationToken;
        await _h.RegisterAsync(1, 2);
        var controller = await _h.ElectAsync(1);
        Assert.True(await controller.EnsureOffsetsTopicAsync(50, 3, ct));
        var record = await _h.TopicAsync(GroupCoordinatorMap.OffsetsTopic);
        Assert.Equal((50, 2), (record.Partitions, record.ReplicationFactor));
        Assert.True(await controller.EnsureOffsetsTopicAsync(50, 3, ct));
        Assert.Equal(record.TopicId, (await _h.TopicAsync(GroupCoordinatorMap.OffsetsTopic)).TopicId);
    }

    [Theory]
    [InlineData("hello", 99162322, 22)]
    [InlineData("my-group", -1906497762, 12)]
    [InlineData("polygenelubricants", int.MinValue, 0)] // Kafka's abs maps MinValue to 0
    [InlineData("", 0, 0)]
    public void A_group_maps_to_the_partition_Kafka_computes(string group, int javaHash, int partitionOf50)
    {
        Assert.Equal(javaHash, GroupCoordinatorMap.JavaHashCode(group));
        Assert.Equal(partitionOf50, GroupCoordinatorMap.PartitionFor(group, 50));
    }


}
