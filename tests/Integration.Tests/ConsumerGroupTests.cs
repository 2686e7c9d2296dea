using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace LogBroker.Integration.Tests;

/// <summary>Classic consumer groups with Confluent.Kafka: assignment, rebalancing, committed offsets.</summary>
public sealed class ConsumerGroupTests : IAsyncLifetime
{
    private readonly BrokerFixture _broker = new()
    {
        Settings =
        [
            "--Broker:GroupInitialRebalanceDelay=00:00:00.300",
            "--Broker:ConsumerGroupHeartbeatInterval=00:00:00.500",
            "--Broker:ConsumerGroupSessionTimeout=00:00:06",
        ],
    };

    public ValueTask InitializeAsync() => _broker.InitializeAsync();

    public ValueTask DisposeAsync() => _broker.DisposeAsync();

    private IConsumer<Null, string> Consumer(string group, string assignor = "range") =>
        new ConsumerBuilder<Null, string>(new ConsumerConfig
        {
            BootstrapServers = _broker.Bootstrap,
            GroupId = group,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            SessionTimeoutMs = 6000,
            HeartbeatIntervalMs = 500,
            PartitionAssignmentStrategy = assignor switch
            {
                "roundrobin" => PartitionAssignmentStrategy.RoundRobin,
                "cooperative-sticky" => PartitionAssignmentStrategy.CooperativeSticky,
                _ => PartitionAssignmentStrategy.Range,
            },
        }).SetLogHandler((_, _) => { }).Build();

    private async Task<string> TopicWithRecordsAsync(int partitions, int records)
    {
        string topic = await EmptyTopicAsync(partitions);
        ProduceNumbered(topic, partitions, records);
        return topic;
    }

    private async Task<string> EmptyTopicAsync(int partitions)
    {
        string topic = BrokerFixture.UniqueTopic("group");
        using IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.Bootstrap }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = 1 }]);
        return topic;
    }

    private void ProduceNumbered(string topic, int partitions, int records)
    {
        using IProducer<Null, string> producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = _broker.Bootstrap, LingerMs = 5 }).Build();
        for (int i = 0; i < records; i++)
        {
            producer.Produce(new TopicPartition(topic, i % partitions), new Message<Null, string> { Value = i.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
    }

    /// <summary>
    /// Subscribes the consumers to an empty topic, waits until the group is stable with every partition
    /// owned by exactly one member, then produces: with no rebalance after that point, each record must be
    /// read exactly once. (Records read before a rebalance without a commit are legitimately read again by
    /// the next owner, so the records only arrive once ownership has settled.)
    /// </summary>
    private async Task SettleThenReadEachRecordOnceAsync(IConsumer<Null, string>[] consumers, string topic, int records)
    {
        foreach (IConsumer<Null, string> c in consumers)
        {
            c.Subscribe(topic);
        }

        await PollUntilAsync(() => AssignmentIsComplete(consumers), consumers);
        ProduceNumbered(topic, 6, records);

        var seen = new HashSet<string>();
        DateTime deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && seen.Count < records)
        {
            foreach (IConsumer<Null, string> c in consumers)
            {
                ConsumeResult<Null, string>? r = c.Consume(TimeSpan.FromMilliseconds(50));
                if (r is { IsPartitionEOF: false })
                {
                    Assert.True(seen.Add(r.Message.Value), $"record {r.Message.Value} read twice");
                }
            }
        }

        Assert.Equal(records, seen.Count);
        Assert.True(AssignmentIsComplete(consumers), "every partition owned by exactly one member");
    }

    [Theory]
    [InlineData("range")]
    [InlineData("roundrobin")]
    [InlineData("cooperative-sticky")]
    public async Task Three_consumers_share_six_partitions_each_owned_by_exactly_one_and_read_everything_once(string assignor)
    {
        const int Records = 3000;
        string topic = await EmptyTopicAsync(6);
        string group = "g-" + Guid.NewGuid().ToString("N");
        IConsumer<Null, string>[] consumers = [Consumer(group, assignor), Consumer(group, assignor), Consumer(group, assignor)];
        try
        {
            await SettleThenReadEachRecordOnceAsync(consumers, topic, Records);
        }
        finally
        {
            foreach (IConsumer<Null, string> c in consumers)
            {
                c.Close();
                c.Dispose();
            }
        }
    }

    [Fact]
    public async Task With_the_server_side_protocol_three_consumers_share_six_partitions_and_read_everything_once()
    {
        const int Records = 3000;
        string topic = await EmptyTopicAsync(6);
        string group = "kip848-" + Guid.NewGuid().ToString("N");
        IConsumer<Null, string>[] consumers = [.. Enumerable.Range(0, 3).Select(_ => ServerSideConsumer(group))];
        try
        {
            await SettleThenReadEachRecordOnceAsync(consumers, topic, Records);
            Assert.True(_broker.Service<Broker.Groups.ConsumerGroupCoordinator>().Owns(group), "the group must be a server-side (KIP-848) group");

            // One leaves: the other two end up owning all six, never two owners at once.
            consumers[2].Close();
            await PollUntilAsync(() => consumers[0].Assignment.Count + consumers[1].Assignment.Count == 6 &&
                consumers[0].Assignment.Concat(consumers[1].Assignment).Distinct().Count() == 6, consumers[0], consumers[1]);
            consumers[0].Commit();
        }
        finally
        {
            foreach (IConsumer<Null, string> c in consumers)
            {
                c.Dispose();
            }
        }
    }

    [Theory]
    [InlineData("classic")]
    [InlineData("consumer")]
    public async Task While_30000_records_arrive_one_member_closes_and_one_vanishes_and_nothing_is_missed(string protocol)
    {
        const int Records = 30_000;
        string topic = BrokerFixture.UniqueTopic("churn");
        using (IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.Bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 6, ReplicationFactor = 1 }]);
        }

        string group = protocol + "-churn-" + Guid.NewGuid().ToString("N");
        IConsumer<Null, string> Make(string? instance)
        {
            var config = new ConsumerConfig
            {
                BootstrapServers = _broker.Bootstrap,
                GroupId = group,
                GroupInstanceId = instance, // a static member does not leave on close: it "vanishes"
                AutoOffsetReset = AutoOffsetReset.Earliest,
                AutoCommitIntervalMs = 200,
            };
            if (protocol == "consumer")
            {
                config.GroupProtocol = GroupProtocol.Consumer;
            }
            else
            {
                config.SessionTimeoutMs = 6000;
                config.HeartbeatIntervalMs = 500;
            }

            return new ConsumerBuilder<Null, string>(config).SetLogHandler((_, _) => { }).Build();
        }

        IConsumer<Null, string> closing = Make(null), vanishing = Make("static-1"), staying = Make(null);
        IConsumer<Null, string>[] all = [closing, vanishing, staying];
        var live = new List<IConsumer<Null, string>>(all);
        try
        {
            foreach (IConsumer<Null, string> c in all)
            {
                c.Subscribe(topic);
            }

            await PollUntilAsync(() => AssignmentIsComplete(all), all);

            Task producing = Task.Run(() =>
            {
                using IProducer<Null, string> producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = _broker.Bootstrap, LingerMs = 5 }).Build();
                for (int i = 0; i < Records; i++)
                {
                    producer.Produce(topic, new Message<Null, string> { Value = i.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                    if (i % 1000 == 999)
                    {
                        producer.Flush(TimeSpan.FromSeconds(10));
                        Thread.Sleep(20); // keep producing while the group changes
                    }
                }

                producer.Flush(TimeSpan.FromSeconds(30));
            }, TestContext.Current.CancellationToken);

            var seen = new HashSet<string>();
            DateTime deadline = DateTime.UtcNow.AddSeconds(120);
            bool closed = false, vanished = false;
            while (DateTime.UtcNow < deadline && (seen.Count < Records || staying.Assignment.Count < 6))
            {
                foreach (IConsumer<Null, string> c in live)
                {
                    if (c.Consume(TimeSpan.FromMilliseconds(20)) is { IsPartitionEOF: false } r)
                    {
                        seen.Add(r.Message.Value); // at least once: a moved partition may be read again
                    }
                }

                if (!closed && seen.Count >= Records / 3)
                {
                    closing.Close();
                    live.Remove(closing);
                    closed = true;
                }
                else if (closed && !vanished && seen.Count >= 2 * Records / 3)
                {
                    vanishing.Close(); // a static member: no LeaveGroup, its partitions wait for its session timeout
                    live.Remove(vanishing);
                    vanished = true;
                }
            }

            await producing;
            Assert.True(closed && vanished);
            Assert.Equal(Records, seen.Count);
            Assert.Equal(6, staying.Assignment.Count); // the survivor owns everything in the end
        }
        finally
        {
            foreach (IConsumer<Null, string> c in all)
            {
                c.Dispose();
            }
        }
    }

    private IConsumer<Null, string> ServerSideConsumer(string group) =>
        new ConsumerBuilder<Null, string>(new ConsumerConfig
        {
            BootstrapServers = _broker.Bootstrap,
            GroupId = group,
            GroupProtocol = GroupProtocol.Consumer,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();

    private static bool AssignmentIsComplete(IConsumer<Null, string>[] consumers)
    {
        List<int> owned = [.. consumers.SelectMany(c => c.Assignment).Select(p => p.Partition.Value)];
        return owned.Count == 6 && owned.Distinct().Count() == 6 && consumers.All(c => c.Assignment.Count > 0);
    }

    [Fact]
    public async Task A_member_that_leaves_hands_its_partitions_to_the_others()
    {
        string topic = await TopicWithRecordsAsync(4, 40);
        string group = "g-" + Guid.NewGuid().ToString("N");
        using IConsumer<Null, string> stays = Consumer(group);
        IConsumer<Null, string> leaves = Consumer(group);
        stays.Subscribe(topic);
        leaves.Subscribe(topic);
        await PollUntilAsync(() => stays.Assignment.Count == 2 && leaves.Assignment.Count == 2, stays, leaves);

        leaves.Close();
        leaves.Dispose();
        await PollUntilAsync(() => stays.Assignment.Count == 4, stays);
        Assert.Equal(4, stays.Assignment.Count);
    }

    [Fact]
    public async Task A_member_that_vanishes_without_leaving_loses_its_partitions_after_its_session_timeout()
    {
        string topic = await TopicWithRecordsAsync(4, 40);
        string group = "g-" + Guid.NewGuid().ToString("N");
        using IConsumer<Null, string> survivor = Consumer(group);
        // A static member: librdkafka does not send LeaveGroup when it closes, as if the process died.
        IConsumer<Null, string> vanishing = new ConsumerBuilder<Null, string>(new ConsumerConfig
        {
            BootstrapServers = _broker.Bootstrap,
            GroupId = group,
            GroupInstanceId = "instance-1",
            SessionTimeoutMs = 6000,
            HeartbeatIntervalMs = 500,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.Range,
        }).SetLogHandler((_, _) => { }).Build();
        survivor.Subscribe(topic);
        vanishing.Subscribe(topic);
        await PollUntilAsync(() => survivor.Assignment.Count == 2 && vanishing.Assignment.Count == 2, survivor, vanishing);

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        vanishing.Close();
        vanishing.Dispose();
        await PollUntilAsync(() => survivor.Assignment.Count == 4, survivor);
        Assert.True(stopwatch.Elapsed > TimeSpan.FromSeconds(4), "the partitions moved before the session timeout: the member left instead of vanishing");
    }

    [Fact]
    public async Task Committed_offsets_let_a_restarted_consumer_resume_and_survive_a_broker_restart()
    {
        string topic = await TopicWithRecordsAsync(1, 100);
        string group = "g-" + Guid.NewGuid().ToString("N");
        using (IConsumer<Null, string> first = Consumer(group))
        {
            first.Subscribe(topic);
            int read = 0;
            DateTime deadline = DateTime.UtcNow.AddSeconds(30);
            while (read < 40 && DateTime.UtcNow < deadline)
            {
                ConsumeResult<Null, string>? r = first.Consume(TimeSpan.FromMilliseconds(200));
                if (r is { IsPartitionEOF: false })
                {
                    read++;
                    if (read == 40)
                    {
                        first.Commit(r); // commits offset 40: the next record to read
                    }
                }
            }

            first.Close();
        }

        int port = _broker.Port;
        await _broker.StopAsync();
        await _broker.StartAsync(port);

        using IConsumer<Null, string> second = Consumer(group);
        List<TopicPartitionOffset> committed = second.Committed([new TopicPartition(topic, 0)], TimeSpan.FromSeconds(10));
        Assert.Equal(40, committed.Single().Offset.Value);
        second.Subscribe(topic);
        ConsumeResult<Null, string>? next = null;
        DateTime until = DateTime.UtcNow.AddSeconds(30);
        while (next is null && DateTime.UtcNow < until)
        {
            next = second.Consume(TimeSpan.FromMilliseconds(200));
        }

        Assert.NotNull(next);
        Assert.Equal(40, next.Offset.Value);
        second.Close();
    }

    [Fact]
    public async Task Admin_lists_describes_resets_and_deletes_a_group()
    {
        string topic = await TopicWithRecordsAsync(2, 20);
        string group = "g-" + Guid.NewGuid().ToString("N");
        using IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.Bootstrap }).Build();
        using (IConsumer<Null, string> member = Consumer(group))
        {
            member.Subscribe(topic);
            await PollUntilAsync(() => member.Assignment.Count == 2, member);
            member.Commit([new TopicPartitionOffset(topic, 0, 7), new TopicPartitionOffset(topic, 1, 9)]);

            ListConsumerGroupsResult listed = await admin.ListConsumerGroupsAsync();
            Assert.Contains(listed.Valid, g => g.GroupId == group && g.State == ConsumerGroupState.Stable);
            DescribeConsumerGroupsResult described = await admin.DescribeConsumerGroupsAsync([group]);
            ConsumerGroupDescription description = described.ConsumerGroupDescriptions.Single();
            Assert.Equal(ConsumerGroupState.Stable, description.State);
            Assert.Equal("range", description.PartitionAssignor);
            Assert.Equal(2, description.Members.Single().Assignment.TopicPartitions.Count);

            // Offsets cannot be reset while the group has members (Kafka refuses the same way).
            await Assert.ThrowsAnyAsync<KafkaException>(() => admin.AlterConsumerGroupOffsetsAsync(
                [new ConsumerGroupTopicPartitionOffsets(group, [new TopicPartitionOffset(topic, 0, 0)])]));
            member.Close();
        }

        List<ListConsumerGroupOffsetsResult> offsets = await admin.ListConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitions(group, null)]);
        Assert.Equal([7L, 9L], offsets.Single().Partitions.OrderBy(p => p.Partition.Value).Select(p => p.Offset.Value));

        await admin.AlterConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitionOffsets(group,
            [new TopicPartitionOffset(topic, 0, 0), new TopicPartitionOffset(topic, 1, 0)])]);
        using (IConsumer<Null, string> replay = Consumer(group))
        {
            replay.Subscribe(topic);
            int read = 0;
            DateTime deadline = DateTime.UtcNow.AddSeconds(30);
            while (read < 20 && DateTime.UtcNow < deadline)
            {
                if (replay.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false })
                {
                    read++;
                }
            }

            Assert.Equal(20, read); // reset to the start: the whole topic again
            replay.Close();
        }

        // OffsetDelete: refused for a topic the members subscribe to, done for an empty group.
        using (IConsumer<Null, string> member = Consumer(group))
        {
            member.Subscribe(topic);
            await PollUntilAsync(() => member.Assignment.Count == 2, member);
            var refused = await Assert.ThrowsAnyAsync<DeleteConsumerGroupOffsetsException>(() =>
                admin.DeleteConsumerGroupOffsetsAsync(group, [new TopicPartition(topic, 1)]));
            Assert.Equal(ErrorCode.GroupSubscribedToTopic, refused.Result.Partitions.Single().Error.Code);
            member.Close();
        }

        await admin.DeleteConsumerGroupOffsetsAsync(group, [new TopicPartition(topic, 1)]);
        offsets = await admin.ListConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitions(group, null)]);
        Assert.Equal([0], offsets.Single().Partitions.Select(p => p.Partition.Value));

        await admin.DeleteGroupsAsync([group]);
        Assert.DoesNotContain((await admin.ListConsumerGroupsAsync()).Valid, g => g.GroupId == group);
        offsets = await admin.ListConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitions(group, [new TopicPartition(topic, 0)])]);
        Assert.Equal(Offset.Unset, offsets.Single().Partitions.Single().Offset);
    }

    private static async Task PollUntilAsync(Func<bool> condition, params IConsumer<Null, string>[] consumers)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition() && DateTime.UtcNow < deadline)
        {
            foreach (IConsumer<Null, string> c in consumers)
            {
                c.Consume(TimeSpan.FromMilliseconds(50));
            }

            await Task.Yield();
        }

        Assert.True(condition(), "the group did not reach the expected assignment in time");
    }
}
