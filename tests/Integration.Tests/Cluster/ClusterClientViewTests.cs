using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.Broker.Cluster;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests.Cluster;

/// <summary>
/// What clients see of a 3-broker cluster (real processes, real etcd): Metadata and DescribeCluster from every
/// broker list all brokers, the controller and each partition's leader, replicas and ISR; FindCoordinator names
/// the same broker from every broker (the leader of the group's __consumer_offsets partition), other brokers
/// refuse the group's requests with NOT_COORDINATOR, and a Confluent consumer group commits and reads back
/// through the coordinator.
/// </summary>
[Collection(ClusterProcesses.Name)]
public sealed partial class ClusterClientViewTests(ThreeBrokerCluster cluster) : IClassFixture<ThreeBrokerCluster>
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
    public async Task Idempotent_producers_bootstrapped_at_different_brokers_get_distinct_ids_and_none_of_their_records_is_dropped()
    {
        // Each broker hands out producer ids; the partition leader deduplicates by (id, epoch, sequence). Ids
        // shared by two producers would make the second one's batches look like retries of the first's: acknowledged,
        // never written.
        var ids = new List<long>();
        for (var id = 1; id <= 3; id++)
        {
            using var connection = await RawConnection.OpenAsync(cluster.Brokers[id].Port);
            var init = await connection.RequestAsync<InitProducerIdResponse>(
                ApiKey.InitProducerId, 4, new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = -1, ProducerId = -1, ProducerEpoch = -1 }, TimeSpan.FromSeconds(10));
            Assert.Equal(0, init.ErrorCode);
            ids.Add(init.ProducerId);
        }

        Assert.Equal(3, ids.Distinct().Count());

        var topic = BrokerFixture.UniqueTopic("pids");
        await cluster.CreateTopicAsync(topic, 1);
        for (var id = 1; id <= 3; id++)
        {
            using var producer = new ProducerBuilder<Null, string>(new ProducerConfig
            {
                BootstrapServers = cluster.Brokers[id].Bootstrap,
                Acks = Acks.All,
                EnableIdempotence = true,
            }).SetLogHandler((_, _) => { }).Build();
            for (var i = 0; i < 10; i++)
            {
                await producer.ProduceAsync(new TopicPartition(topic, 0), new Message<Null, string> { Value = $"{id}-{i}" }, TestContext.Current.CancellationToken);
            }
        }

        var leader = (await cluster.PartitionStateAsync(topic, 0))!.Leader;
        using (var connection = await RawConnection.OpenAsync(cluster.Brokers[leader].Port))
        {
            var listed = await connection.RequestAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 7, new ListOffsetsRequest
            {
                Topics = [new ListOffsetsRequest.ListOffsetsTopic { Name = topic, Partitions = [new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = 0, Timestamp = -1 }] }],
            }, TimeSpan.FromSeconds(10));
            Assert.Equal(30, listed.Topics[0].Partitions[0].Offset); // all three producers' records written
        }
    }

    [Fact]
    public async Task DeleteRecords_is_the_leaders_to_answer_and_bounded_by_the_high_watermark()
    {
        var topic = BrokerFixture.UniqueTopic("delrec");
        await cluster.CreateTopicAsync(topic, 1);
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = cluster.Bootstrap, Acks = Acks.All }).Build())
        {
            for (var i = 0; i < 10; i++)
            {
                await producer.ProduceAsync(new TopicPartition(topic, 0), new Message<Null, string> { Value = $"r{i}" }, TestContext.Current.CancellationToken);
            }
        }

        var leader = (await cluster.PartitionStateAsync(topic, 0))!.Leader;
        var follower = Enumerable.Range(1, 3).First(id => id != leader);
        async Task<(short Error, long LowWatermark)> DeleteAsync(int id, long offset)
        {
            using var connection = await RawConnection.OpenAsync(cluster.Brokers[id].Port);
            var response = await connection.RequestAsync<DeleteRecordsResponse>(ApiKey.DeleteRecords, 2, new DeleteRecordsRequest
            {
                Topics = [new DeleteRecordsRequest.DeleteRecordsTopic { Name = topic, Partitions = [new DeleteRecordsRequest.DeleteRecordsPartition { PartitionIndex = 0, Offset = offset }] }],
                TimeoutMs = 5000,
            }, TimeSpan.FromSeconds(10));
            var result = response.Topics[0].Partitions[0];
            return (result.ErrorCode, result.LowWatermark);
        }

        // A follower moving its own log start would diverge from its leader: it refuses.
        Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotLeaderOrFollower, (await DeleteAsync(follower, 5)).Error);
        Assert.Equal((short)LogBroker.Protocol.ErrorCode.OffsetOutOfRange, (await DeleteAsync(leader, 11)).Error);
        Assert.Equal((0, 5L), await DeleteAsync(leader, 5));
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
            var described = await connection.RequestAsync<DescribeGroupsResponse>(
                ApiKey.DescribeGroups, 5, new DescribeGroupsRequest { Groups = [group] }, TimeSpan.FromSeconds(10));
            Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotCoordinator, described.Groups[0].ErrorCode);
            var deleted = await connection.RequestAsync<DeleteGroupsResponse>(
                ApiKey.DeleteGroups, 2, new DeleteGroupsRequest { GroupsNames = [group] }, TimeSpan.FromSeconds(10));
            Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotCoordinator, deleted.Results[0].ErrorCode);
            var offsetDeleted = await connection.RequestAsync<OffsetDeleteResponse>(
                ApiKey.OffsetDelete, 0, new OffsetDeleteRequest { GroupId = group }, TimeSpan.FromSeconds(10));
            Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotCoordinator, offsetDeleted.ErrorCode);
            var joined = await connection.RequestAsync<ConsumerGroupHeartbeatResponse>(
                ApiKey.ConsumerGroupHeartbeat, 1, new ConsumerGroupHeartbeatRequest
                {
                    GroupId = group,
                    MemberId = Guid.NewGuid().ToString("N"),
                    MemberEpoch = 0,
                    RebalanceTimeoutMs = 30_000,
                    SubscribedTopicNames = ["t"],
                }, TimeSpan.FromSeconds(10));
            Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotCoordinator, joined.ErrorCode); // KIP-848 too
            var consumerDescribed = await connection.RequestAsync<ConsumerGroupDescribeResponse>(
                ApiKey.ConsumerGroupDescribe, 0, new ConsumerGroupDescribeRequest { GroupIds = [group] }, TimeSpan.FromSeconds(10));
            Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotCoordinator, consumerDescribed.Groups[0].ErrorCode);
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

        // The coordinator answers the commit (its offsets partition has it).
        using (var connection = await RawConnection.OpenAsync(cluster.Brokers[expected].Port))
        {
            var fetched = await connection.RequestAsync<OffsetFetchResponse>(
                ApiKey.OffsetFetch, 8, new OffsetFetchRequest { Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = null }] }, TimeSpan.FromSeconds(10));
            Assert.Equal(5, fetched.Groups[0].Topics.Single(t => t.Name == topic).Partitions[0].CommittedOffset);
        }
    }

    [Fact]
    public async Task ListOffsets_is_the_leaders_to_answer_and_latest_is_the_high_watermark_not_the_log_end()
    {
        var topic = BrokerFixture.UniqueTopic("offsets");
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.Bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 3 }]);
        }

        var state = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Leader: > 0, Isr.Count: 3 });
        Assert.Equal(3, state!.Isr.Count);
        int leader = state.Leader;
        int[] followers = [.. Enumerable.Range(1, 3).Where(id => id != leader)];
        long later = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), earlier = later - 60_000; // within the broker's timestamp bounds
        using var connection = await RawConnection.OpenAsync(cluster.Brokers[leader].Port);
        Assert.Equal(0, await ProduceAsync(connection, topic, 5, earlier, acks: -1));
        var latest = await ThreeBrokerCluster.WaitForAsync(() => ListAsync(leader, topic, -1), r => r.Offset == 5);
        Assert.Equal((0, 5L, state.LeaderEpoch), (latest.ErrorCode, latest.Offset, latest.LeaderEpoch));

        // Not the leader: refused, as Fetch is. The caller's current leader epoch is checked as Fetch checks it.
        var elsewhere = await ListAsync(followers[0], topic, -1);
        Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotLeaderOrFollower, elsewhere.ErrorCode);
        var newer = await ListAsync(leader, topic, -1, currentLeaderEpoch: state.LeaderEpoch + 1);
        Assert.Equal((short)LogBroker.Protocol.ErrorCode.UnknownLeaderEpoch, newer.ErrorCode);

        // The followers stopped: an acks=1 append moves the leader's log end, not its high watermark. A client's
        // latest stays at the high watermark, a lookup of the new records' time finds nothing yet; a replica sees
        // the log end. The round counts only while the ISR stayed whole (a follower paused past its 2 s lease is
        // dropped from it, and the high watermark may then move on): up to three rounds.
        bool checkedOnce = false;
        for (int round = 0; round < 3 && !checkedOnce; round++)
        {
            long end = (await ListAsync(leader, topic, -1, replicaId: followers[0])).Offset;
            foreach (int id in followers)
            {
                await cluster.Brokers[id].PauseAsync();
            }

            try
            {
                Assert.Equal(0, await ProduceAsync(connection, topic, 3, later, acks: 1));
                var client = await ListAsync(leader, topic, -1);
                var byTime = await ListAsync(leader, topic, later);
                var replica = await ListAsync(leader, topic, -1, replicaId: followers[0]);
                var after = await cluster.PartitionStateAsync(topic, 0);
                if (after is { Isr.Count: 3 } && after.LeaderEpoch == state.LeaderEpoch)
                {
                    Assert.Equal(end, client.Offset);
                    Assert.Equal(-1, byTime.Offset);
                    Assert.Equal(end + 3, replica.Offset);
                    checkedOnce = true;
                }
            }
            finally
            {
                foreach (int id in followers)
                {
                    await cluster.Brokers[id].ResumeAsync();
                }
            }

            // Caught up again (and the ISR whole) before the next round or the next test.
            var healed = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Isr.Count: 3 });
            Assert.Equal(3, healed!.Isr.Count);
            state = healed;
            await ThreeBrokerCluster.WaitForAsync(() => ListAsync(state.Leader, topic, -1), r => r.ErrorCode == 0 && r.Offset == end + 3);
            leader = state.Leader;
            followers = [.. Enumerable.Range(1, 3).Where(id => id != leader)];
        }

        Assert.True(checkedOnce, "the ISR shrank in each of three rounds with the followers paused for milliseconds");
        // Replicated now, below the high watermark: the first later record (the first round's, at offset 5) is found.
        Assert.Equal(5, (await ListAsync(leader, topic, later)).Offset);
    }

    [Fact]
    public async Task A_broker_reassigned_away_from_a_partition_stops_serving_it_deletes_its_copy_and_the_new_replica_has_the_records()
    {
        var topic = BrokerFixture.UniqueTopic("moved");
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.Bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
        }

        var state = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Leader: > 0 });
        int from = state!.Leader, to = from % 3 + 1;
        using (var connection = await RawConnection.OpenAsync(cluster.Brokers[from].Port))
        {
            await ThreeBrokerCluster.WaitForAsync(() => ListAsync(from, topic, -1), r => r.ErrorCode == 0);
            Assert.Equal(0, await ProduceAsync(connection, topic, 2, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), acks: -1));
        }

        // Moved from its one replica to another broker, through the controller.
        int controller = await cluster.ControllerIdAsync();
        using (var connection = await RawConnection.OpenAsync(cluster.Brokers[controller].Port))
        {
            var altered = await connection.RequestAsync<AlterPartitionReassignmentsResponse>(ApiKey.AlterPartitionReassignments, 0, new AlterPartitionReassignmentsRequest
            {
                Topics = [new AlterPartitionReassignmentsRequest.ReassignableTopic
                {
                    Name = topic,
                    Partitions = [new AlterPartitionReassignmentsRequest.ReassignablePartition { PartitionIndex = 0, Replicas = [to] }],
                }],
            }, TimeSpan.FromSeconds(30));
            Assert.Equal(0, altered.ErrorCode);
            Assert.Equal(0, Assert.Single(Assert.Single(altered.Responses).Partitions).ErrorCode);
        }

        var moved = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Leader: > 0 } x && x.Replicas.SequenceEqual([to]) && x.Leader == to);
        Assert.Equal([to], moved!.Replicas);
        Assert.Equal(to, moved.Leader);
        var atNew = await ThreeBrokerCluster.WaitForAsync(() => ListAsync(to, topic, -1), r => r.ErrorCode == 0 && r.Offset == 2);
        Assert.Equal((0, 2L), (atNew.ErrorCode, atNew.Offset));

        // The old replica refuses the partition from now on: a client with stale metadata cannot write to it there.
        var atOld = await ThreeBrokerCluster.WaitForAsync(() => ListAsync(from, topic, -1), r => r.ErrorCode != 0);
        Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotLeaderOrFollower, atOld.ErrorCode);
        using (var connection = await RawConnection.OpenAsync(cluster.Brokers[from].Port))
        {
            Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotLeaderOrFollower, await ProduceAsync(connection, topic, 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), acks: 1));
        }

        // Its copy is deleted (Kafka's StopReplica with deletion); reassigned back, it fetches the whole log again.
        Assert.NotEmpty(cluster.LogBytes(to, topic));
        Assert.Empty(await ThreeBrokerCluster.WaitForAsync(() => Task.FromResult(cluster.LogBytes(from, topic)), b => b.Length == 0));
        using (var connection = await RawConnection.OpenAsync(cluster.Brokers[controller].Port))
        {
            var back = await connection.RequestAsync<AlterPartitionReassignmentsResponse>(ApiKey.AlterPartitionReassignments, 0, new AlterPartitionReassignmentsRequest
            {
                Topics = [new AlterPartitionReassignmentsRequest.ReassignableTopic
                {
                    Name = topic,
                    Partitions = [new AlterPartitionReassignmentsRequest.ReassignablePartition { PartitionIndex = 0, Replicas = [to, from] }],
                }],
            }, TimeSpan.FromSeconds(30));
            Assert.Equal(0, Assert.Single(Assert.Single(back.Responses).Partitions).ErrorCode);
        }

        var rejoined = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Isr.Count: 2 });
        Assert.Equal([to, from], rejoined!.Replicas);
        Assert.Equal(
            cluster.LogBytes(to, topic),
            await ThreeBrokerCluster.WaitForAsync(() => Task.FromResult(cluster.LogBytes(from, topic)), b => b.SequenceEqual(cluster.LogBytes(to, topic))));
    }

    [Fact]
    public async Task A_commit_is_fetched_only_once_its_offsets_partitions_isr_has_it()
    {
        string topic = BrokerFixture.UniqueTopic("pend");
        string group = "pending-" + Guid.NewGuid().ToString("N")[..8];
        await cluster.CreateTopicAsync(topic, 1);
        int offsetsPartition = GroupCoordinatorMap.PartitionFor(group, 50);
        var state = await ThreeBrokerCluster.WaitForAsync(
            () => cluster.PartitionStateAsync(GroupCoordinatorMap.OffsetsTopic, offsetsPartition), s => s is { Leader: > 0, Isr.Count: 3 });
        int leader = state!.Leader;
        using var committer = await RawConnection.OpenAsync(cluster.Brokers[leader].Port);
        using var reader = await RawConnection.OpenAsync(cluster.Brokers[leader].Port);
        Assert.Equal(0, await ThreeBrokerCluster.WaitForAsync(
            async () => (await committer.RequestAsync<OffsetCommitResponse>(ApiKey.OffsetCommit, 8, Commit(group, topic, 5), TimeSpan.FromSeconds(10))).Topics[0].Partitions[0].ErrorCode,
            e => e == 0));
        Assert.Equal(5, await FetchedAsync(reader, group));

        // The followers stopped: a commit is appended at the leader (its log end moves) but not replicated, and meanwhile
        // OffsetFetch answers the previous commit.
        int[] followers = [.. state.Replicas.Where(r => r != leader)];
        long before = (await ListAsync(leader, GroupCoordinatorMap.OffsetsTopic, -1, replicaId: 1000, partition: offsetsPartition)).Offset;
        foreach (int id in followers)
        {
            await cluster.Brokers[id].PauseAsync();
        }

        try
        {
            await committer.SendRequestAsync(ApiKey.OffsetCommit, 8, 4242, Commit(group, topic, 9));
            long after = await ThreeBrokerCluster.WaitForAsync(
                async () => (await ListAsync(leader, GroupCoordinatorMap.OffsetsTopic, -1, replicaId: 1000, partition: offsetsPartition)).Offset, end => end > before);
            Assert.True(after > before, "the commit was not appended at the leader");
            Assert.Equal(5, await FetchedAsync(reader, group));
        }
        finally
        {
            foreach (int id in followers)
            {
                await cluster.Brokers[id].ResumeAsync();
            }
        }

        // Replicated once the followers fetch again: answered, and then fetched.
        (int correlation, byte[] frame) = await committer.ReceiveWithIdAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(4242, correlation);
        Assert.Equal(0, RawConnection.Decode<OffsetCommitResponse>(ApiKey.OffsetCommit, 8, frame).Topics[0].Partitions[0].ErrorCode);
        Assert.Equal(9, await FetchedAsync(reader, group));
    }

    private static OffsetCommitRequest Commit(string group, string topic, long offset) => new()
    {
        GroupId = group,
        Topics = [new OffsetCommitRequest.OffsetCommitRequestTopic { Name = topic, Partitions = [new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = 0, CommittedOffset = offset }] }],
    };

    private static async Task<long> FetchedAsync(RawConnection connection, string group)
    {
        var fetched = await connection.RequestAsync<OffsetFetchResponse>(
            ApiKey.OffsetFetch, 8, new OffsetFetchRequest { Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = null }] }, TimeSpan.FromSeconds(10));
        var partitions = Assert.Single(Assert.Single(fetched.Groups).Topics).Partitions;
        return Assert.Single(partitions).CommittedOffset;
    }

    private static async Task<short> ProduceAsync(RawConnection connection, string topic, int records, long timestamp, short acks)
    {
        var response = await connection.RequestAsync<ProduceResponse>(
            ApiKey.Produce, 9, RequestFrames.Produce(topic, 0, Batches.Create(records, timestamp: timestamp), acks, timeoutMs: 10_000), TimeSpan.FromSeconds(30));
        return Assert.Single(Assert.Single(response.Responses).PartitionResponses).ErrorCode;
    }

    private async Task<ListOffsetsResponse.ListOffsetsPartitionResponse> ListAsync(
        int id, string topic, long timestamp, int replicaId = -1, int currentLeaderEpoch = -1, int partition = 0)
    {
        using var connection = await RawConnection.OpenAsync(cluster.Brokers[id].Port);
        var response = await connection.RequestAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 7, new ListOffsetsRequest
        {
            ReplicaId = replicaId,
            Topics =
            [
                new ListOffsetsRequest.ListOffsetsTopic
                {
                    Name = topic,
                    Partitions = [new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = partition, Timestamp = timestamp, CurrentLeaderEpoch = currentLeaderEpoch }],
                },
            ],
        }, TimeSpan.FromSeconds(10));
        return Assert.Single(Assert.Single(response.Topics).Partitions);
    }
}
