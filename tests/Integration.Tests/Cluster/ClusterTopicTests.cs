using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.Broker.Cluster;
using LogBroker.Protocol.Messages;

namespace LogBroker.Integration.Tests.Cluster;

/// <summary>
/// Topics in cluster mode on 3 real broker processes and a real 3-member etcd: Confluent.Kafka's admin client
/// creates, grows and deletes them through the controller, and every broker that hosts a replica gets (and
/// loses) the partition directories; brokers that are not the controller answer NOT_CONTROLLER.
/// </summary>
[Collection(ClusterProcesses.Name)]
public sealed class ClusterTopicTests(ThreeBrokerCluster cluster) : IClassFixture<ThreeBrokerCluster>
{
    [Fact]
    public async Task A_topic_with_replication_factor_3_is_materialised_on_every_broker_and_deleted_everywhere()
    {
        var ct = TestContext.Current.CancellationToken;
        var topic = BrokerFixture.UniqueTopic("rf3");
        var controller = await cluster.ControllerIdAsync();
        using (var admin = Admin(controller))
        {
            await admin.CreateTopicsAsync([new TopicSpecification
            {
                Name = topic, NumPartitions = 6, ReplicationFactor = 3, Configs = new() { ["retention.ms"] = "3600000" },
            }]);
        }

        var states = await PartitionStatesAsync(topic);
        Assert.Equal(6, states.Count);
        Assert.All(states, s => Assert.Equal([1, 2, 3], s.Replicas.Order()));
        Assert.All(states, s => Assert.Equal(s.Replicas, s.Isr));
        Assert.Equal(3, states.Select(s => s.Leader).Distinct().Count()); // leaders spread over the brokers
        var record = ClusterJson.Decode<TopicRecord>((await cluster.Store.GetAsync(cluster.Keys.Topic(topic), ct))!.Value)!;
        Assert.Equal("3600000", record.Configs["retention.ms"]);

        string[] expected = [.. Enumerable.Range(0, 6).Select(p => $"{topic}-{p}").Order(StringComparer.Ordinal)];
        for (var id = 1; id <= 3; id++)
        {
            var dirs = await ThreeBrokerCluster.WaitForSync(() => cluster.PartitionDirectories(id, topic), d => d.Length == 6);
            Assert.Equal(expected, dirs);
        }

        using (var admin = Admin(controller))
        {
            await admin.DeleteTopicsAsync([topic]);
        }

        Assert.Null(await cluster.Store.GetAsync(cluster.Keys.Topic(topic), ct));
        for (var id = 1; id <= 3; id++)
        {
            Assert.Empty(await ThreeBrokerCluster.WaitForSync(() => cluster.PartitionDirectories(id, topic), d => d.Length == 0));
        }
    }

    [Fact]
    public async Task CreatePartitions_adds_assigned_partitions_on_every_hosting_broker()
    {
        var topic = BrokerFixture.UniqueTopic("grow");
        var controller = await cluster.ControllerIdAsync();
        using var admin = Admin(controller);
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 2, ReplicationFactor = 3 }]);
        await admin.CreatePartitionsAsync([new PartitionsSpecification { Topic = topic, IncreaseTo = 5 }]);

        var states = await PartitionStatesAsync(topic, 5);
        Assert.Equal([0, 1, 2, 3, 4], states.Select(s => s.Partition));
        Assert.All(states, s => Assert.Equal(3, s.Replicas.Distinct().Count()));
        for (var id = 1; id <= 3; id++)
        {
            Assert.Equal(5, (await ThreeBrokerCluster.WaitForSync(() => cluster.PartitionDirectories(id, topic), d => d.Length == 5)).Length);
        }

        var fewer = await Assert.ThrowsAsync<CreatePartitionsException>(
            () => admin.CreatePartitionsAsync([new PartitionsSpecification { Topic = topic, IncreaseTo = 3 }]));
        Assert.Equal(Confluent.Kafka.ErrorCode.InvalidPartitions, fewer.Results[0].Error.Code);
    }

    [Fact]
    public async Task Only_the_controller_creates_topics_and_only_hosting_brokers_get_their_directories()
    {
        var controller = await cluster.ControllerIdAsync();
        var other = Enumerable.Range(1, 3).First(id => id != controller);
        var topic = BrokerFixture.UniqueTopic("route");

        // Another broker: NOT_CONTROLLER, nothing recorded.
        var refused = await CreateRawAsync(other, new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = 1, ReplicationFactor = 1 });
        Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotController, refused.ErrorCode);
        Assert.Null(await cluster.Store.GetAsync(cluster.Keys.Topic(topic), CancellationToken.None));

        // More replicas than brokers, and validate_only: refused or checked, nothing recorded.
        var big = await CreateRawAsync(controller, new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = 1, ReplicationFactor = 4 });
        Assert.Equal((short)LogBroker.Protocol.ErrorCode.InvalidReplicationFactor, big.ErrorCode);
        var validated = await CreateRawAsync(controller, new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = 2, ReplicationFactor = 3 }, validateOnly: true);
        Assert.Equal((0, 2, (short)3), (validated.ErrorCode, validated.NumPartitions, validated.ReplicationFactor));
        Assert.Null(await cluster.Store.GetAsync(cluster.Keys.Topic(topic), CancellationToken.None));

        // An explicit assignment on two brokers: the third gets no directories.
        var outsider = Enumerable.Range(1, 3).First(id => id != controller && id != other);
        var assigned = new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = -1, ReplicationFactor = -1 };
        assigned.Assignments.Add(new CreateTopicsRequest.CreatableReplicaAssignment { PartitionIndex = 0, BrokerIds = [other, controller] });
        assigned.Assignments.Add(new CreateTopicsRequest.CreatableReplicaAssignment { PartitionIndex = 1, BrokerIds = [controller, other] });
        var created = await CreateRawAsync(controller, assigned);
        Assert.Equal((0, 2, (short)2), (created.ErrorCode, created.NumPartitions, created.ReplicationFactor));
        var states = await PartitionStatesAsync(topic, 2);
        Assert.Equal([[other, controller], [controller, other]], states.Select(s => s.Replicas.ToArray()));
        Assert.Equal(2, (await ThreeBrokerCluster.WaitForSync(() => cluster.PartitionDirectories(other, topic), d => d.Length == 2)).Length);
        Assert.Equal(2, (await ThreeBrokerCluster.WaitForSync(() => cluster.PartitionDirectories(controller, topic), d => d.Length == 2)).Length);
        Assert.Empty(cluster.PartitionDirectories(outsider, topic));

        // An assignment naming an unregistered broker.
        var bad = new CreateTopicsRequest.CreatableTopic { Name = topic + "-bad", NumPartitions = -1, ReplicationFactor = -1 };
        bad.Assignments.Add(new CreateTopicsRequest.CreatableReplicaAssignment { PartitionIndex = 0, BrokerIds = [controller, 9] });
        Assert.Equal((short)LogBroker.Protocol.ErrorCode.InvalidReplicaAssignment, (await CreateRawAsync(controller, bad)).ErrorCode);
    }

    private IAdminClient Admin(int id) =>
        new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.Brokers[id].Bootstrap }).Build();

    private async Task<CreateTopicsResponse.CreatableTopicResult> CreateRawAsync(int id, CreateTopicsRequest.CreatableTopic topic, bool validateOnly = false)
    {
        using var connection = await RawConnection.OpenAsync(cluster.Brokers[id].Port);
        var response = await connection.RequestAsync<CreateTopicsResponse>(
            ApiKey.CreateTopics, 7, new CreateTopicsRequest { Topics = [topic], timeoutMs = 10_000, validateOnly = validateOnly }, TimeSpan.FromSeconds(30));
        return Assert.Single(response.Topics);
    }

    private async Task<List<Broker.Replication.PartitionState>> PartitionStatesAsync(string topic, int count = -1)
    {
        var items = await ThreeBrokerCluster.WaitForAsync(
            async () => (await cluster.Store.RangeAsync(cluster.Keys.TopicPartitions(topic), CancellationToken.None)).Items,
            i => count < 0 ? i.Count > 0 : i.Count == count);
        return [.. items.Select(kv => ClusterJson.DecodePartition(kv.Value)!).OrderBy(s => s.Partition)];
    }
}
