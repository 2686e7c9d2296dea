using LogBroker.Broker.Cluster;

namespace LogBroker.Integration.Tests.Cluster;

/// <summary>
/// A leader's broker killed -9 (real processes, real etcd, lease TTL 2 s): once its lease expires, Metadata
/// from the surviving brokers shows a new leader taken from the ISR, a bumped leader epoch, the dead broker as
/// an offline replica and out of the broker list; a new controller if it was the controller.
/// </summary>
[Collection(ClusterProcesses.Name)]
public sealed class ClusterFailoverTests(ThreeBrokerCluster cluster) : IClassFixture<ThreeBrokerCluster>
{
    [Fact]
    public async Task Killing_a_leaders_broker_moves_leadership_to_an_isr_member_in_every_brokers_metadata()
    {
        var topic = BrokerFixture.UniqueTopic("failover");
        var controller = await cluster.ControllerIdAsync();
        using (var admin = new Confluent.Kafka.AdminClientBuilder(new Confluent.Kafka.AdminClientConfig { BootstrapServers = cluster.Bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new Confluent.Kafka.Admin.TopicSpecification { Name = topic, NumPartitions = 3, ReplicationFactor = 3 }]);
        }

        var before = await ThreeBrokerCluster.WaitForAsync(
            () => cluster.MetadataAsync(controller, topic), m => m.Topics[0].ErrorCode == 0 && m.Topics[0].Partitions.Count == 3 && m.Topics[0].Partitions.All(p => p.ErrorCode == 0));
        var partition0 = before.Topics[0].Partitions.Single(p => p.PartitionIndex == 0);
        var victim = partition0.LeaderId;
        Assert.True(victim > 0);

        await cluster.Brokers[victim].KillAsync();
        var survivors = Enumerable.Range(1, 3).Where(id => id != victim).ToArray();
        foreach (var id in survivors)
        {
            var after = await ThreeBrokerCluster.WaitForAsync(
                () => cluster.MetadataAsync(id, topic),
                m => m.Brokers.Count == 2 && m.Topics[0].Partitions.Single(p => p.PartitionIndex == 0) is { ErrorCode: 0 } p && p.LeaderId != victim);
            Assert.Equal(survivors, after.Brokers.Select(b => b.NodeId));
            var moved = after.Topics[0].Partitions.Single(p => p.PartitionIndex == 0);
            Assert.Contains(moved.LeaderId, partition0.IsrNodes);
            Assert.Contains(moved.LeaderId, survivors);
            Assert.Equal(partition0.LeaderEpoch + 1, moved.LeaderEpoch);
            Assert.Equal([victim], moved.OfflineReplicas);
            Assert.DoesNotContain(victim, moved.IsrNodes);
            Assert.All(after.Topics[0].Partitions, p => Assert.NotEqual(victim, p.LeaderId));
            Assert.Contains(after.ControllerId, survivors);
        }

        var state = ClusterJson.DecodePartition((await cluster.Store.GetAsync(cluster.Keys.Partition(topic, 0), CancellationToken.None))!.Value)!;
        Assert.NotEqual(victim, state.Leader);
    }
}
