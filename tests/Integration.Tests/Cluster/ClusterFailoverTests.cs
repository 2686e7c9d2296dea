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
        var topic = "fo-" + Guid.NewGuid().ToString("N")[..8]; // short: the status table must not wrap it
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

        var (code, status) = await StatusAsync(controller);
        Assert.Equal(0, code);
        Assert.Contains(cluster.Brokers[victim].Bootstrap, status);
        Assert.DoesNotContain("under-replicated partitions", status); // the table of them is left out when empty
        Assert.Equal(1, await cluster.MetricAsync(controller, "logbroker_cluster_is_controller"));
        Assert.Equal(0, await cluster.MetricAsync(Enumerable.Range(1, 3).First(i => i != controller), "logbroker_cluster_is_controller"));

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

        // The operator's view: the dead broker gone from the list, the topic's partitions under-replicated.
        var reporter = survivors[0];
        (code, status) = await StatusAsync(reporter);
        Assert.Equal(0, code); // every partition still has a leader
        Assert.DoesNotContain(cluster.Brokers[victim].Bootstrap, status);
        Assert.Contains("under-replicated partitions", status);
        Assert.Contains(topic, status);

        // Metrics: one controller among the survivors, leader changes seen, the new leader counting its under-replicated partition.
        double controllers = 0;
        foreach (var id in survivors)
        {
            controllers += await cluster.MetricAsync(id, "logbroker_cluster_is_controller") ?? 0;
            Assert.True(await cluster.MetricAsync(id, "logbroker_cluster_leader_changes_total") >= 1);
            Assert.Equal(0, await cluster.MetricAsync(id, "logbroker_cluster_offline_partitions"));
        }

        Assert.Equal(1, controllers);
        Assert.Equal(2, await cluster.MetricAsync(survivors[0], "logbroker_cluster_brokers"));
        foreach (var id in survivors)
        {
            Assert.True(await cluster.MetricAsync(id, "logbroker_cluster_under_replicated_partitions") >= 1); // every survivor leads some partition now
        }

        var state = ClusterJson.DecodePartition((await cluster.Store.GetAsync(cluster.Keys.Partition(topic, 0), CancellationToken.None))!.Value)!;
        Assert.NotEqual(victim, state.Leader);
    }

    private async Task<(int Code, string Out)> StatusAsync(int id)
    {
        var output = new StringWriter();
        var context = new LogBroker.Cli.CliContext(output, new StringWriter(), new StringReader(""), interactive: false);
        int code = await LogBroker.Cli.CliApp.RunAsync(["cluster", "status", "--bootstrap", cluster.Brokers[id].Bootstrap], context, TestContext.Current.CancellationToken);
        return (code, output.ToString());
    }
}
