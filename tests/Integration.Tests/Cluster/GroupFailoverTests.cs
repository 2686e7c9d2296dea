using Confluent.Kafka;
using LogBroker.Broker.Cluster;
using LogBroker.Protocol.Messages;

namespace LogBroker.Integration.Tests.Cluster;

/// <summary>
/// Committed offsets survive the loss of their coordinator (real processes, real etcd, lease TTL 2 s): a Confluent
/// consumer commits, the broker leading the group's <c>__consumer_offsets</c> partition is killed -9, and the broker
/// elected in its place answers the same committed offsets; it takes a new commit, the killed broker comes back and
/// catches up into that partition's ISR, and when the second coordinator is killed too the new commit is still there.
/// </summary>
[Collection(ClusterProcesses.Name)]
public sealed class GroupFailoverTests
{
    [Fact]
    public async Task Committed_offsets_survive_the_coordinator_killed_twice_and_a_restarted_broker_catches_up()
    {
        await using var cluster = await ThreeBrokerCluster.StartAsync();
        string topic = BrokerFixture.UniqueTopic("gfo");
        string group = "gfo-" + Guid.NewGuid().ToString("N")[..8];
        await cluster.CreateTopicAsync(topic, 2);

        TopicPartition[] partitions = [new(topic, 0), new(topic, 1)];
        Assert.Null(await CommitAsync(cluster.Bootstrap, group, [new(partitions[0], 42), new(partitions[1], 7)]));
        Assert.Equal(new long[] { 42, 7 }, await CommittedAsync(cluster.Bootstrap, group, partitions));

        int offsetsPartition = GroupCoordinatorMap.PartitionFor(group, 50);
        var before = await ThreeBrokerCluster.WaitForAsync(
            () => cluster.PartitionStateAsync(GroupCoordinatorMap.OffsetsTopic, offsetsPartition), s => s is { Leader: > 0, Isr.Count: 3 });
        int first = before!.Leader;
        await cluster.Brokers[first].KillAsync();

        // The survivors elect a new leader of the offsets partition; it loads the group and answers its commits.
        string survivors = string.Join(',', cluster.Brokers.Where(b => b.Key != first).Select(b => b.Value.Bootstrap));
        var moved = await ThreeBrokerCluster.WaitForAsync(
            () => cluster.PartitionStateAsync(GroupCoordinatorMap.OffsetsTopic, offsetsPartition), s => s is { Leader: > 0 } x && x.Leader != first);
        int second = moved!.Leader;
        Assert.Equal(new long[] { 42, 7 }, await CommittedAsync(survivors, group, partitions));
        Assert.Null(await CommitAsync(survivors, group, [new(partitions[0], 43)]));

        // The killed broker returns and catches up into the offsets partition's ISR.
        await cluster.Brokers[first].DisposeAsync();
        cluster.Brokers[first] = await cluster.StartBrokerAsync(first, cluster.Brokers[first].Port);
        var healed = await ThreeBrokerCluster.WaitForAsync(
            () => cluster.PartitionStateAsync(GroupCoordinatorMap.OffsetsTopic, offsetsPartition), s => s is { Isr.Count: 3 });
        Assert.Equal(3, healed!.Isr.Count);

        // The second coordinator killed: whichever ISR member leads now has the commit taken by the second.
        await cluster.Brokers[second].KillAsync();
        await ThreeBrokerCluster.WaitForAsync(
            () => cluster.PartitionStateAsync(GroupCoordinatorMap.OffsetsTopic, offsetsPartition), s => s is { Leader: > 0 } x && x.Leader != second);
        string rest = string.Join(',', cluster.Brokers.Where(b => b.Key != second).Select(b => b.Value.Bootstrap));
        Assert.Equal(new long[] { 43, 7 }, await CommittedAsync(rest, group, partitions));
    }

    [Fact]
    public async Task The_offsets_partition_is_compacted_on_every_replica_and_the_last_commits_survive_the_coordinator_killed()
    {
        // Compaction after 64 KiB of growth; each commit below is about 40 KiB (ten partitions, 4,000 bytes of metadata each).
        await using var cluster = await ThreeBrokerCluster.StartAsync("--Broker:OffsetsCompactionBytes=65536");
        string topic = BrokerFixture.UniqueTopic("gcmp");
        string group = "gcmp-" + Guid.NewGuid().ToString("N")[..8];
        await cluster.CreateTopicAsync(topic, 10);

        int offsetsPartition = GroupCoordinatorMap.PartitionFor(group, 50);
        var state = await ThreeBrokerCluster.WaitForAsync(
            () => cluster.PartitionStateAsync(GroupCoordinatorMap.OffsetsTopic, offsetsPartition), s => s is { Leader: > 0, Isr.Count: 3 });
        int leader = state!.Leader;
        for (int id = 1; id <= 3; id++)
        {
            await ThreeBrokerCluster.WaitForSync(() => cluster.PartitionDirectories(id, topic), d => d.Length == 10);
        }

        const int Commits = 40;
        using (var connection = await RawConnection.OpenAsync(cluster.Brokers[leader].Port))
        {
            for (int i = 0; i < Commits; i++)
            {
                var commit = new OffsetCommitRequest
                {
                    GroupId = group,
                    Topics = [new OffsetCommitRequest.OffsetCommitRequestTopic
                    {
                        Name = topic,
                        Partitions = [.. Enumerable.Range(0, 10).Select(p => new OffsetCommitRequest.OffsetCommitRequestPartition
                        {
                            PartitionIndex = p, CommittedOffset = i, CommittedMetadata = new string((char)('a' + (i % 26)), 4000),
                        })],
                    }],
                };
                short error = await ThreeBrokerCluster.WaitForAsync(async () => (await connection.RequestAsync<OffsetCommitResponse>(
                    ApiKey.OffsetCommit, 8, commit, TimeSpan.FromSeconds(10))).Topics[0].Partitions.Max(p => p.ErrorCode), e => e == 0);
                Assert.Equal(0, error);
            }
        }

        // About 1.6 MB was written; the leader keeps only the segments since its last snapshots.
        int segments = await ThreeBrokerCluster.WaitForSync(() => Segments(cluster, leader, offsetsPartition), n => n <= 4);
        Assert.True(segments <= 4, $"the leader keeps {segments} segments of __consumer_offsets-{offsetsPartition}");

        // Its followers moved their log start with it: the new leader's earliest offset is past the first commits.
        await cluster.Brokers[leader].KillAsync();
        var moved = await ThreeBrokerCluster.WaitForAsync(
            () => cluster.PartitionStateAsync(GroupCoordinatorMap.OffsetsTopic, offsetsPartition), s => s is { Leader: > 0 } x && x.Leader != leader);
        long earliest = await ThreeBrokerCluster.WaitForAsync(() => EarliestAsync(cluster.Brokers[moved!.Leader].Port, offsetsPartition), o => o > 0);
        Assert.True(earliest > Commits / 2, $"the new leader's log of __consumer_offsets-{offsetsPartition} starts at {earliest}");

        string survivors = string.Join(',', cluster.Brokers.Where(b => b.Key != leader).Select(b => b.Value.Bootstrap));
        long[] committed = await CommittedAsync(survivors, group, [.. Enumerable.Range(0, 10).Select(p => new TopicPartition(topic, p))]);
        Assert.Equal(Enumerable.Repeat((long)Commits - 1, 10), committed);
    }

    [Fact]
    public async Task A_server_side_group_follows_its_coordinator_moved_then_killed_and_resumes_from_its_commits()
    {
        await using var cluster = await ThreeBrokerCluster.StartAsync();
        string topic = BrokerFixture.UniqueTopic("g848");
        string group = "g848-" + Guid.NewGuid().ToString("N")[..8];
        await cluster.CreateTopicAsync(topic, 2);
        int offsetsPartition = GroupCoordinatorMap.PartitionFor(group, 50);
        var state = await ThreeBrokerCluster.WaitForAsync(
            () => cluster.PartitionStateAsync(GroupCoordinatorMap.OffsetsTopic, offsetsPartition), s => s is { Leader: > 0, Isr.Count: 3 });
        int first = state!.Leader;

        await ProduceAsync(cluster.Bootstrap, topic, 0, 100);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig
        {
            BootstrapServers = cluster.Bootstrap,
            GroupId = group,
            GroupProtocol = GroupProtocol.Consumer, // KIP-848: ConsumerGroupHeartbeat to the coordinator
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Subscribe(topic);
        ConsumeAndCommit(consumer, seen, 100);
        Assert.Equal(0, await DescribedErrorAsync(cluster.Brokers[first].Port, group));

        // The coordinator moved away from a live broker (a reorder and a preferred election, as a drain does):
        // the old one unloads the group and refuses it; the member rejoins at the new one and resumes from its commit.
        int second = state.Isr.First(id => id != first);
        int[] order = [second, .. state.Replicas.Where(id => id != first && id != second), first];
        await using (var admin = new LogBroker.Client.Admin.AdminClient(new LogBroker.Client.Admin.AdminOptions { BootstrapServers = cluster.Bootstrap }))
        {
            var offsetsTopicPartition = new LogBroker.Client.TopicPartition(GroupCoordinatorMap.OffsetsTopic, offsetsPartition);
            await admin.AlterPartitionReassignmentsAsync([new LogBroker.Client.Admin.PartitionReassignment(offsetsTopicPartition, order)], TestContext.Current.CancellationToken);
            Assert.Empty(await admin.ElectPreferredLeadersAsync([offsetsTopicPartition], TestContext.Current.CancellationToken));
        }

        await ThreeBrokerCluster.WaitForAsync(
            () => cluster.PartitionStateAsync(GroupCoordinatorMap.OffsetsTopic, offsetsPartition), s => s is { Leader: var l } && l == second);
        Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotCoordinator, await DescribedErrorAsync(cluster.Brokers[first].Port, group));
        await ProduceAsync(cluster.Bootstrap, topic, 100, 100);
        ConsumeAndCommit(consumer, seen, 200);
        Assert.Equal(0, await DescribedErrorAsync(cluster.Brokers[second].Port, group));

        // The new coordinator killed -9: the group moves on to a survivor with the commits taken at the second.
        await cluster.Brokers[second].KillAsync();
        string survivors = string.Join(',', cluster.Brokers.Where(b => b.Key != second).Select(b => b.Value.Bootstrap));
        await ProduceAsync(survivors, topic, 200, 100);
        ConsumeAndCommit(consumer, seen, 300);
        consumer.Close();

        // Every record delivered, and the last commit covers them all. (Records consumed after the member's last
        // successful commit may come again after it rejoins: the new coordinator does not carry the membership over.)
        Assert.Equal(Enumerable.Range(0, 300).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));
        long[] committed = await CommittedAsync(survivors, group, [new(topic, 0), new(topic, 1)]);
        Assert.Equal(300, committed.Sum());
    }

    [Fact]
    public async Task A_classic_groups_members_carry_on_at_a_new_coordinator_without_a_rebalance()
    {
        await using var cluster = await ThreeBrokerCluster.StartAsync();
        string topic = BrokerFixture.UniqueTopic("gkeep");
        string group = "gkeep-" + Guid.NewGuid().ToString("N")[..8];
        await cluster.CreateTopicAsync(topic, 2);
        int offsetsPartition = GroupCoordinatorMap.PartitionFor(group, 50);
        var state = await ThreeBrokerCluster.WaitForAsync(
            () => cluster.PartitionStateAsync(GroupCoordinatorMap.OffsetsTopic, offsetsPartition), s => s is { Leader: > 0, Isr.Count: 3 });
        int coordinator = state!.Leader;

        // Two members of a classic group, each with one partition; every assignment, revocation and loss is counted.
        var events = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var (a, b) = GroupMembers.Join(cluster.Bootstrap, group, topic, events);
        using var memberA = a;
        using var memberB = b;
        string[] settled = [.. events];
        string[] members = await GroupMembers.MemberIdsAsync(cluster.Brokers[coordinator].Port, group);
        Assert.Equal(2, members.Length);

        // The group's record has reached the followers: the offsets partition's high watermark is its log end.
        using (var connection = await RawConnection.OpenAsync(cluster.Brokers[coordinator].Port))
        {
            await ThreeBrokerCluster.WaitForAsync(
                async () => await EndAsync(connection, offsetsPartition, 1000) == await EndAsync(connection, offsetsPartition, -1), same => same);
        }

        // The coordinator killed -9: another broker takes the offsets partition, loads the group with its members, and
        // they heartbeat there as members of the same generation. No revocation, no loss, no new assignment.
        await cluster.Brokers[coordinator].KillAsync();
        var moved = await ThreeBrokerCluster.WaitForAsync(
            () => cluster.PartitionStateAsync(GroupCoordinatorMap.OffsetsTopic, offsetsPartition), s => s is { Leader: > 0 } x && x.Leader != coordinator);
        GroupMembers.Poll([a, b], TimeSpan.FromSeconds(8)); // several heartbeats at the new coordinator
        Assert.Equal(settled, events.ToArray());
        Assert.Equal(members, await GroupMembers.MemberIdsAsync(cluster.Brokers[moved!.Leader].Port, group));
        Assert.Equal((1, 1), (a.Assignment.Count, b.Assignment.Count));
        a.Close();
        b.Close();
    }

    /// <summary>The offsets partition's log end (a replica id: 1000) or high watermark (-1), at its leader.</summary>
    private static async Task<long> EndAsync(RawConnection connection, int partition, int replicaId)
    {
        var listed = await connection.RequestAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 7, new ListOffsetsRequest
        {
            ReplicaId = replicaId,
            Topics = [new ListOffsetsRequest.ListOffsetsTopic
            {
                Name = GroupCoordinatorMap.OffsetsTopic,
                Partitions = [new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = partition, Timestamp = -1 }],
            }],
        }, TimeSpan.FromSeconds(10));
        return listed.Topics[0].Partitions[0].Offset;
    }

    private static async Task ProduceAsync(string bootstrap, string topic, int from, int count)
    {
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            Acks = Acks.All,
            EnableIdempotence = true,
            MessageTimeoutMs = 60_000,
        }).SetLogHandler((_, _) => { }).Build();
        var sends = new List<Task<DeliveryResult<Null, string>>>();
        for (int i = from; i < from + count; i++)
        {
            sends.Add(producer.ProduceAsync(new TopicPartition(topic, i % 2), new Message<Null, string> { Value = i.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
        }

        await Task.WhenAll(sends);
    }

    /// <summary>
    /// Consumes until <paramref name="seen"/> holds <paramref name="total"/> distinct records and a commit succeeded after
    /// them (60 s at most). It goes on polling while a commit fails: a fenced member's revocation and rejoin run in poll.
    /// </summary>
    private static void ConsumeAndCommit(IConsumer<Ignore, string> consumer, HashSet<string> seen, int total)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        string? error = "not yet";
        while (error is not null && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message: { } message })
            {
                seen.Add(message.Value);
            }

            // Commit once every record was delivered and the positions are past them all: a member fenced and rejoined
            // meanwhile starts again from its last commit, and committing then would move the commit back.
            if (seen.Count >= total && Positions(consumer) >= total)
            {
                error = TryCommit(consumer);
            }
        }

        Assert.Equal(total, seen.Count);
        Assert.Null(error);
    }

    /// <summary>The sum of the consumer's positions over its assignment (an unknown position counts as none).</summary>
    private static long Positions(IConsumer<Ignore, string> consumer)
    {
        long sum = 0;
        foreach (TopicPartition assigned in consumer.Assignment)
        {
            sum += Math.Max(0, consumer.Position(assigned).Value);
        }

        return sum;
    }

    /// <summary>ConsumerGroupDescribe's error for the group at one broker (0 once it describes the group with a member).</summary>
    private static async Task<short> DescribedErrorAsync(int port, string group)
    {
        using var connection = await RawConnection.OpenAsync(port);
        return await ThreeBrokerCluster.WaitForAsync(async () =>
        {
            var described = (await connection.RequestAsync<ConsumerGroupDescribeResponse>(
                ApiKey.ConsumerGroupDescribe, 0, new ConsumerGroupDescribeRequest { GroupIds = [group] }, TimeSpan.FromSeconds(10))).Groups[0];
            return described.ErrorCode == 0 && described.Members.Count != 1 ? (short)-1 : described.ErrorCode;
        }, e => e is 0 or (short)LogBroker.Protocol.ErrorCode.NotCoordinator);
    }

    private static async Task<long> EarliestAsync(int port, int partition)
    {
        using var connection = await RawConnection.OpenAsync(port);
        var response = await connection.RequestAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 7, new ListOffsetsRequest
        {
            Topics = [new ListOffsetsRequest.ListOffsetsTopic
            {
                Name = GroupCoordinatorMap.OffsetsTopic,
                Partitions = [new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = partition, Timestamp = -2 }],
            }],
        }, TimeSpan.FromSeconds(10));
        var answer = response.Topics[0].Partitions[0];
        return answer.ErrorCode == 0 ? answer.Offset : -1;
    }

    private static int Segments(ThreeBrokerCluster cluster, int id, int partition) =>
        Directory.GetFiles(Path.Combine(cluster.DataDirectory(id), $"{GroupCoordinatorMap.OffsetsTopic}-{partition}"), "*.log").Length;

    /// <summary>Commits as a standalone consumer of the group (no subscription); the error, or null.</summary>
    private static async Task<string?> CommitAsync(string bootstrap, string group, TopicPartitionOffset[] offsets)
    {
        using var consumer = Consumer(bootstrap, group);
        return await ThreeBrokerCluster.WaitForAsync(() => Task.FromResult(TryCommit(consumer, offsets)), e => e is null);
    }

    /// <summary>Commits <paramref name="offsets"/>, or the consumed positions when null; the error, or null.</summary>
    private static string? TryCommit<TKey, TValue>(IConsumer<TKey, TValue> consumer, TopicPartitionOffset[]? offsets = null)
    {
        try
        {
            if (offsets is null)
            {
                consumer.Commit();
            }
            else
            {
                consumer.Commit(offsets);
            }

            return null;
        }
        catch (KafkaException e)
        {
            return e.Error.ToString(); // the coordinator moving or loading, or the member fenced: asked again
        }
    }

    /// <summary>The group's committed offsets as a fresh consumer reads them (asked again until every partition has one).</summary>
    private static async Task<long[]> CommittedAsync(string bootstrap, string group, TopicPartition[] partitions)
    {
        using var consumer = Consumer(bootstrap, group);
        return await ThreeBrokerCluster.WaitForAsync(() => Task.FromResult(TryCommitted(consumer, partitions)), o => o.All(x => x >= 0));
    }

    private static long[] TryCommitted(IConsumer<Ignore, Ignore> consumer, TopicPartition[] partitions)
    {
        try
        {
            return [.. consumer.Committed(partitions, TimeSpan.FromSeconds(5)).OrderBy(p => p.Partition.Value).Select(p => p.Offset.Value)];
        }
        catch (KafkaException)
        {
            return [.. partitions.Select(_ => -1L)];
        }
    }

    private static IConsumer<Ignore, Ignore> Consumer(string bootstrap, string group) =>
        new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = group, EnableAutoCommit = false }).Build();
}
