using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.Broker.Cluster;
using LogBroker.Protocol.Messages;

namespace LogBroker.Integration.Tests.Cluster;

/// <summary>
/// What clients see of a 3-broker cluster (real processes, real etcd): Metadata and DescribeCluster from every
/// broker list all brokers, the controller and each partition's leader, replicas and ISR; FindCoordinator names
/// the same broker from every broker (the leader of the group's __consumer_offsets partition), other brokers
/// refuse the group's requests with NOT_COORDINATOR, and a Confluent consumer group commits and reads back
/// through the coordinator.
/// </summary>
[Collection(ClusterProcesses.Name)]
public sealed class ClusterClientViewTests(ThreeBrokerCluster cluster) : IClassFixture<ThreeBrokerCluster>
{
    [Fact]
    public async Task Metadata_and_DescribeCluster_from_every_broker_show_the_whole_cluster()
    {
        var controller = await cluster.ControllerIdAsync();
        var other = Enumerable.Range(1, 3).First(id => id != controller);
        var topic = BrokerFixture.UniqueTopic("view");

        // Bootstrapped at a broker that is not the controller: the client finds the controller in Metadata.
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.Brokers[other].Bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 6, ReplicationFactor = 3 }]);
            var described = await admin.DescribeClusterAsync();
            Assert.Equal([1, 2, 3], described.Nodes.Select(n => n.Id).Order());
            Assert.Equal(controller, described.Controller.Id);
        }

        var clusterIds = new HashSet<string?>();
        for (var id = 1; id <= 3; id++)
        {
            var metadata = await ThreeBrokerCluster.WaitForAsync(
                () => cluster.MetadataAsync(id, topic), m => m.Topics[0].ErrorCode == 0 && m.Topics[0].Partitions.Count == 6 && m.Topics[0].Partitions.All(p => p.ErrorCode == 0));
            clusterIds.Add(metadata.ClusterId);
            Assert.Equal(controller, metadata.ControllerId);
            Assert.Equal([1, 2, 3], metadata.Brokers.Select(b => b.NodeId));
            Assert.All(metadata.Brokers, b => Assert.Equal(cluster.Brokers[b.NodeId].Port, b.Port));
            var partitions = metadata.Topics[0].Partitions.OrderBy(p => p.PartitionIndex).ToList();
            for (var p = 0; p < 6; p++)
            {
                var state = ClusterJson.DecodePartition((await cluster.Store.GetAsync(cluster.Keys.Partition(topic, p), CancellationToken.None))!.Value)!;
                Assert.Equal(state.Leader, partitions[p].LeaderId);
                Assert.Equal(state.LeaderEpoch, partitions[p].LeaderEpoch);
                Assert.Equal(state.Replicas, partitions[p].ReplicaNodes);
                Assert.Equal(state.Isr, partitions[p].IsrNodes);
                Assert.Empty(partitions[p].OfflineReplicas);
            }

            Assert.Equal(3, partitions.Select(p => p.LeaderId).Distinct().Count()); // leaders spread over the three brokers
        }

        Assert.Single(clusterIds); // one cluster id, whichever broker answers
    }

    [Fact]
    public async Task Every_broker_names_the_same_coordinator_and_a_consumer_group_commits_through_it()
    {
        var ct = TestContext.Current.CancellationToken;
        var group = "group-" + Guid.NewGuid().ToString("N");
        var offsets = await ThreeBrokerCluster.WaitForAsync(
            () => cluster.MetadataAsync(1, GroupCoordinatorMap.OffsetsTopic), m => m.Topics[0].ErrorCode == 0 && m.Topics[0].Partitions.All(p => p.ErrorCode == 0));
        Assert.Equal(50, offsets.Topics[0].Partitions.Count);
        Assert.True(offsets.Topics[0].IsInternal);
        var expected = offsets.Topics[0].Partitions.Single(p => p.PartitionIndex == GroupCoordinatorMap.PartitionFor(group, 50)).LeaderId;
        Assert.All(offsets.Topics[0].Partitions, p => Assert.Equal(3, p.ReplicaNodes.Count)); // min(3, brokers)

        for (var id = 1; id <= 3; id++)
        {
            using var connection = await RawConnection.OpenAsync(cluster.Brokers[id].Port);
            var found = await connection.RequestAsync<FindCoordinatorResponse>(
                ApiKey.FindCoordinator, 4, new FindCoordinatorRequest { KeyType = 0, CoordinatorKeys = [group] }, TimeSpan.FromSeconds(10));
            var coordinator = Assert.Single(found.Coordinators);
            Assert.Equal((0, expected, cluster.Brokers[expected].Port), (coordinator.ErrorCode, coordinator.NodeId, coordinator.Port));
        }

        // Another broker refuses the group's requests.
        var elsewhere = Enumerable.Range(1, 3).First(id => id != expected);
        using (var connection = await RawConnection.OpenAsync(cluster.Brokers[elsewhere].Port))
        {
            var fetched = await connection.RequestAsync<OffsetFetchResponse>(
                ApiKey.OffsetFetch, 8, new OffsetFetchRequest { Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = null }] }, TimeSpan.FromSeconds(10));
            Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotCoordinator, fetched.Groups[0].ErrorCode);
            var heartbeat = await connection.RequestAsync<HeartbeatResponse>(
                ApiKey.Heartbeat, 4, new HeartbeatRequest { GroupId = group, MemberId = "m", GenerationId = 1 }, TimeSpan.FromSeconds(10));
            Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotCoordinator, heartbeat.ErrorCode);
        }

        // A Confluent consumer group: produce, consume, commit, and read the commit back with a new consumer.
        var topic = BrokerFixture.UniqueTopic("group");
        var controller = await cluster.ControllerIdAsync();
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.Bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 3 }]);
        }

        await ThreeBrokerCluster.WaitForAsync(() => cluster.MetadataAsync(controller, topic), m => m.Topics[0].ErrorCode == 0 && m.Topics[0].Partitions[0].ErrorCode == 0);
        for (var id = 1; id <= 3; id++)
        {
            await ThreeBrokerCluster.WaitForSync(() => cluster.PartitionDirectories(id, topic), d => d.Length == 1);
        }

        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = cluster.Bootstrap, Acks = Acks.Leader }).Build())
        {
            for (var i = 0; i < 5; i++)
            {
                await producer.ProduceAsync(topic, new Message<Null, string> { Value = "v" + i }, ct);
            }
        }

        var config = new ConsumerConfig
        {
            BootstrapServers = cluster.Bootstrap,
            GroupId = group,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            SessionTimeoutMs = 10_000,
        };
        using (var consumer = new ConsumerBuilder<Ignore, string>(config).Build())
        {
            consumer.Subscribe(topic);
            var read = new List<string>();
            for (var attempt = 0; attempt < 60 && read.Count < 5; attempt++)
            {
                if (consumer.Consume(TimeSpan.FromSeconds(1)) is { } result)
                {
                    read.Add(result.Message.Value);
                    if (read.Count == 5)
                    {
                        consumer.Commit(result);
                    }
                }
            }

            Assert.Equal(["v0", "v1", "v2", "v3", "v4"], read);
            consumer.Close();
        }

        using (var again = new ConsumerBuilder<Ignore, string>(config).Build())
        {
            var committed = again.Committed([new Confluent.Kafka.TopicPartition(topic, 0)], TimeSpan.FromSeconds(30));
            Assert.Equal(5, committed[0].Offset.Value);
        }

        // The commit is in the coordinator's local offset log, not elsewhere.
        using (var connection = await RawConnection.OpenAsync(cluster.Brokers[expected].Port))
        {
            var fetched = await connection.RequestAsync<OffsetFetchResponse>(
                ApiKey.OffsetFetch, 8, new OffsetFetchRequest { Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = null }] }, TimeSpan.FromSeconds(10));
            Assert.Equal(5, fetched.Groups[0].Topics.Single(t => t.Name == topic).Partitions[0].CommittedOffset);
        }
    }
}
