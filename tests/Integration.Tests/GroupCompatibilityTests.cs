using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.Protocol.Messages;

namespace LogBroker.Integration.Tests;

/// <summary>
/// Consumer-group behaviour that Kafka's own clients and tools rely on (issue 16): commits to topics or
/// partitions that do not exist, static membership (KIP-345).
/// </summary>
public sealed class GroupCompatibilityTests : IAsyncLifetime
{
    private readonly BrokerFixture _broker = new()
    {
        Settings =
        [
            "--Broker:GroupInitialRebalanceDelay=00:00:00.300",
        ],
    };

    public ValueTask InitializeAsync() => _broker.InitializeAsync();

    public ValueTask DisposeAsync() => _broker.DisposeAsync();

    private async Task<string> TopicAsync(int partitions)
    {
        string topic = BrokerFixture.UniqueTopic("compat");
        using IAdminClient admin = Admin();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = 1 }]);
        return topic;
    }

    private const short UnknownTopicOrPartition = (short)Protocol.ErrorCode.UnknownTopicOrPartition;

    private IAdminClient Admin() => new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.Bootstrap }).Build();

    [Fact]
    public async Task A_commit_to_a_missing_topic_or_partition_is_refused_per_partition_and_the_rest_is_stored()
    {
        string topic = await TopicAsync(2);
        string group = "commit-" + Guid.NewGuid().ToString("N");
        using (IConsumer<Null, string> consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig
        {
            BootstrapServers = _broker.Bootstrap,
            GroupId = group,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build())
        {
            // librdkafka reports the first partition error of the commit as the call's error.
            KafkaException refused = Assert.ThrowsAny<KafkaException>(() => consumer.Commit(
            [
                new TopicPartitionOffset(topic, 0, 5),
                new TopicPartitionOffset(topic, 7, 5),           // the topic has partitions 0 and 1
                new TopicPartitionOffset("no-such-topic-" + Guid.NewGuid().ToString("N"), 0, 5),
            ]));
            Assert.Equal(ErrorCode.UnknownTopicOrPart, refused.Error.Code);
        }

        // Per partition, as a raw OffsetCommit (v8) shows.
        using (RawConnection raw = await RawConnection.OpenAsync(_broker.Port))
        {
            var commit = new OffsetCommitRequest { GroupId = group, GenerationIdOrMemberEpoch = -1, MemberId = "" };
            commit.Topics.Add(new OffsetCommitRequest.OffsetCommitRequestTopic
            {
                Name = topic,
                Partitions =
                [
                    new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = 0, CommittedOffset = 6 },
                    new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = -1, CommittedOffset = 6 },
                    new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = 2, CommittedOffset = 6 },
                ],
            });
            commit.Topics.Add(new OffsetCommitRequest.OffsetCommitRequestTopic
            {
                Name = "missing-" + Guid.NewGuid().ToString("N"),
                Partitions = [new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = 0, CommittedOffset = 6 }],
            });
            OffsetCommitResponse answered = await raw.RequestAsync<OffsetCommitResponse>(ApiKey.OffsetCommit, 8, commit, TimeSpan.FromSeconds(15));
            Assert.Equal([(short)0, UnknownTopicOrPartition, UnknownTopicOrPartition],
                answered.Topics[0].Partitions.Select(p => p.ErrorCode));
            Assert.Equal(UnknownTopicOrPartition, Assert.Single(answered.Topics[1].Partitions).ErrorCode);
        }

        // AlterConsumerGroupOffsets goes through OffsetCommit: the same answer per partition.
        using IAdminClient admin = Admin();
        var altered = await Assert.ThrowsAsync<AlterConsumerGroupOffsetsException>(() => admin.AlterConsumerGroupOffsetsAsync(
            [new ConsumerGroupTopicPartitionOffsets(group, [new TopicPartitionOffset(topic, 1, 3), new TopicPartitionOffset(topic, 2, 3)])]));
        Dictionary<int, ErrorCode> alterErrors = altered.Results.Single().Partitions.ToDictionary(p => p.Partition.Value, p => p.Error.Code);
        Assert.Equal(ErrorCode.NoError, alterErrors[1]);
        Assert.Equal(ErrorCode.UnknownTopicOrPart, alterErrors[2]);

        // Only the partitions that exist were stored.
        List<ListConsumerGroupOffsetsResult> stored = await admin.ListConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitions(group, null)]);
        Assert.Equal([(topic, 0, 6L), (topic, 1, 3L)],
            stored.Single().Partitions.Select(p => (p.Topic, p.Partition.Value, p.Offset.Value)).OrderBy(p => p.Item2));
    }

    [Fact]
    public async Task A_static_member_restarted_within_its_session_timeout_gets_its_partitions_back_and_nobody_else_is_revoked()
    {
        string topic = await TopicAsync(6);
        string group = "static-" + Guid.NewGuid().ToString("N");
        var revoked = new System.Collections.Concurrent.ConcurrentQueue<string>();
        IConsumer<Null, string> Static(string instance)
        {
            IConsumer<Null, string> consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig
            {
                BootstrapServers = _broker.Bootstrap,
                GroupId = group,
                GroupInstanceId = instance,
                SessionTimeoutMs = 10_000,
                HeartbeatIntervalMs = 500,
                EnableAutoCommit = false,
                AutoOffsetReset = AutoOffsetReset.Earliest,
                PartitionAssignmentStrategy = PartitionAssignmentStrategy.Range,
            }).SetPartitionsRevokedHandler((_, partitions) => revoked.Enqueue(instance)).SetLogHandler((_, _) => { }).Build();
            consumer.Subscribe(topic);
            return consumer;
        }

        IConsumer<Null, string> first = Static("i-0"), second = Static("i-1"), third = Static("i-2");
        try
        {
            await PollUntilAsync(() => first.Assignment.Count == 2 && second.Assignment.Count == 2 && third.Assignment.Count == 2, first, second, third);
            List<int> secondOwned = [.. second.Assignment.Select(p => p.Partition.Value).Order()];
            List<int> firstOwned = [.. first.Assignment.Select(p => p.Partition.Value).Order()];
            List<int> thirdOwned = [.. third.Assignment.Select(p => p.Partition.Value).Order()];

            second.Close(); // a static member sends no LeaveGroup: its place is kept for its session timeout
            second.Dispose();
            revoked.Clear();
            using IAdminClient admin = Admin();
            Assert.Equal(3, (await admin.DescribeConsumerGroupsAsync([group])).ConsumerGroupDescriptions.Single().Members.Count);

            second = Static("i-1"); // the restart, well within 10 s
            await PollUntilAsync(() => second.Assignment.Count == 2, first, second, third);
            DateTime settle = DateTime.UtcNow.AddSeconds(2);
            while (DateTime.UtcNow < settle)
            {
                foreach (IConsumer<Null, string> c in new[] { first, second, third })
                {
                    c.Consume(TimeSpan.FromMilliseconds(50));
                }
            }

            Assert.Equal(secondOwned, second.Assignment.Select(p => p.Partition.Value).Order());
            Assert.Empty(revoked); // nobody was asked to give anything up
            Assert.Equal(firstOwned, first.Assignment.Select(p => p.Partition.Value).Order());
            Assert.Equal(thirdOwned, third.Assignment.Select(p => p.Partition.Value).Order());

            // Now it leaves for good: still listed until its session timeout, then removed and its partitions handed on.
            second.Close();
            second.Dispose();
            DateTime closedAt = DateTime.UtcNow;
            second = null!;
            Assert.Equal(3, (await admin.DescribeConsumerGroupsAsync([group])).ConsumerGroupDescriptions.Single().Members.Count);
            await PollUntilAsync(() => first.Assignment.Count + third.Assignment.Count == 6, first, third);
            Assert.True(DateTime.UtcNow - closedAt >= TimeSpan.FromSeconds(9), "removed before its session timeout");
            ConsumerGroupDescription described = (await admin.DescribeConsumerGroupsAsync([group])).ConsumerGroupDescriptions.Single();
            Assert.Equal(["i-0", "i-2"], described.Members.Select(m => m.GroupInstanceId).Order(StringComparer.Ordinal));
        }
        finally
        {
            foreach (IConsumer<Null, string>? c in new[] { first, second, third })
            {
                c?.Dispose();
            }
        }
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
