using LogBroker.Client;
using LogBroker.Client.Admin;
using LogBroker.Protocol;

namespace LogBroker.Integration.Tests.Client;

[Collection(BrokerCollectionDefinition.Name)]
public sealed class AdminClientTests(BrokerFixture broker)
{
    private AdminClient Admin() => new(new AdminOptions { BootstrapServers = broker.Bootstrap });

    [Fact]
    public async Task Creates_describes_grows_configures_and_deletes_a_topic()
    {
        await using AdminClient admin = Admin();
        string topic = BrokerFixture.UniqueTopic("admin");
        await admin.CreateTopicsAsync([new NewTopic(topic, 3, Configs: new Dictionary<string, string> { ["retention.ms"] = "3600000" })], TestContext.Current.CancellationToken);

        TopicDescription described = Assert.Single(await admin.DescribeTopicsAsync([topic], TestContext.Current.CancellationToken));
        Assert.Equal(3, described.Partitions.Count);
        Assert.NotEqual(Guid.Empty, described.TopicId);
        Assert.Contains(topic, await admin.ListTopicsAsync(cancellationToken: TestContext.Current.CancellationToken));

        KafkaException exists = await Assert.ThrowsAsync<KafkaException>(() => admin.CreateTopicsAsync([new NewTopic(topic, 1)], TestContext.Current.CancellationToken));
        Assert.Equal(ErrorCode.TopicAlreadyExists, exists.ErrorCode);
        Assert.False(exists.IsRetriable);

        await admin.CreatePartitionsAsync(topic, 5, TestContext.Current.CancellationToken);
        Assert.Equal(5, Assert.Single(await admin.DescribeTopicsAsync([topic], TestContext.Current.CancellationToken)).Partitions.Count);

        IReadOnlyList<ConfigEntry> configs = await admin.DescribeTopicConfigsAsync(topic, TestContext.Current.CancellationToken);
        Assert.Equal("3600000", Assert.Single(configs, c => c.Name == "retention.ms").Value);
        await admin.AlterTopicConfigsAsync(topic, [new ConfigChange("retention.ms", "7200000")], TestContext.Current.CancellationToken);
        configs = await admin.DescribeTopicConfigsAsync(topic, TestContext.Current.CancellationToken);
        Assert.Equal("7200000", Assert.Single(configs, c => c.Name == "retention.ms").Value);

        await admin.DeleteTopicsAsync([topic], TestContext.Current.CancellationToken);
        KafkaException gone = await Assert.ThrowsAsync<KafkaException>(() => admin.DescribeTopicsAsync([topic], TestContext.Current.CancellationToken));
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, gone.ErrorCode);
    }

    [Fact]
    public async Task An_unreachable_broker_fails_with_a_network_error_within_the_timeout()
    {
        // A port nothing listens on: bind then release it.
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();

        await using var admin = new AdminClient(new AdminOptions { BootstrapServers = $"127.0.0.1:{port}", RequestTimeout = TimeSpan.FromSeconds(2) });
        var watch = System.Diagnostics.Stopwatch.StartNew();
        KafkaException e = await Assert.ThrowsAsync<KafkaException>(() => admin.ListTopicsAsync(cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(ErrorCode.NetworkException, e.ErrorCode);
        Assert.Contains($"127.0.0.1:{port}", e.Message, StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
    }
}

[Collection(BrokerCollectionDefinition.Name)]
public sealed class AdminClientOffsetAndGroupTests(BrokerFixture broker)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Lists_offsets_by_time_deletes_records_and_manages_group_offsets()
    {
        await using var admin = new AdminClient(new AdminOptions { BootstrapServers = broker.Bootstrap });
        string topic = BrokerFixture.UniqueTopic("admin-offsets");
        await admin.CreateTopicsAsync([new NewTopic(topic, 1)], Ct);
        await using (var producer = new LogBroker.Client.Producer.KafkaProducer(new LogBroker.Client.Producer.ProducerOptions { BootstrapServers = broker.Bootstrap }))
        {
            var records = new List<LogBroker.Client.Producer.ProducerRecord>();
            for (int i = 0; i < 50; i++)
            {
                records.Add(new LogBroker.Client.Producer.ProducerRecord(null, new byte[] { (byte)i }) { Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000 + (i * 10)) });
            }

            await producer.ProduceBatchAsync(topic, records, Ct);
        }

        var tp = new TopicPartition(topic, 0);
        PartitionSize size = Assert.Single(await admin.DescribeLogDirsAsync([topic], Ct));
        Assert.Equal(tp, size.Partition);
        Assert.InRange(size.Bytes, 50 * 10, 64 * 1024); // 50 one-byte records in batches: at least their record overhead, far below a page of slack
        Assert.Equal(0, Assert.Single(await admin.ListOffsetsAsync([tp], OffsetSpec.Earliest, Ct)).Offset);
        Assert.Equal(50, Assert.Single(await admin.ListOffsetsAsync([tp], OffsetSpec.Latest, Ct)).Offset);
        ListedOffset byTime = Assert.Single(await admin.ListOffsetsAsync([tp], OffsetSpec.ForTime(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_205)), Ct));
        Assert.Equal(21, byTime.Offset);
        Assert.Equal(1_700_000_000_210, byTime.Timestamp);

        Assert.Equal(10, Assert.Single(await admin.DeleteRecordsAsync([new TopicPartitionOffset(topic, 0, 10)], Ct)).Offset);
        Assert.Equal(10, Assert.Single(await admin.ListOffsetsAsync([tp], OffsetSpec.Earliest, Ct)).Offset);

        string group = "admin-" + Guid.NewGuid().ToString("N");
        await admin.AlterGroupOffsetsAsync(group, [new TopicPartitionOffset(topic, 0, 42)], Ct);
        Assert.Equal(42, Assert.Single(await admin.ListGroupOffsetsAsync(group, cancellationToken: Ct)).Offset);
        Assert.Contains(await admin.ListGroupsAsync(Ct), g => g.GroupId == group);
        GroupDescription described = Assert.Single(await admin.DescribeGroupsAsync([group], Ct));
        Assert.Equal("Empty", described.State);

        await admin.DeleteGroupsAsync([group], Ct);
        Assert.DoesNotContain(await admin.ListGroupsAsync(Ct), g => g.GroupId == group);
    }

    [Fact]
    public async Task Describes_a_live_group_with_its_members_and_assignments()
    {
        await using var admin = new AdminClient(new AdminOptions { BootstrapServers = broker.Bootstrap });
        string topic = BrokerFixture.UniqueTopic("admin-group");
        await admin.CreateTopicsAsync([new NewTopic(topic, 3)], Ct);
        string group = "live-" + Guid.NewGuid().ToString("N");
        await using var consumer = new LogBroker.Client.Consumer.KafkaConsumer(new LogBroker.Client.Consumer.ConsumerOptions { BootstrapServers = broker.Bootstrap, GroupId = group, HeartbeatInterval = TimeSpan.FromMilliseconds(300) });
        consumer.Subscribe([topic]);
        DateTime deadline = DateTime.UtcNow.AddSeconds(30);
        while (consumer.Assignment.Count < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, Ct);
        }

        GroupDescription g = Assert.Single(await admin.DescribeGroupsAsync([group], Ct));
        Assert.Equal("Stable", g.State);
        GroupMemberDescription member = Assert.Single(g.Members);
        Assert.Equal(consumer.MemberId, member.MemberId);
        Assert.Equal(3, member.Assignment.Count);

        KafkaException busy = await Assert.ThrowsAsync<KafkaException>(() => admin.DeleteGroupsAsync([group], Ct));
        Assert.Equal(ErrorCode.NonEmptyGroup, busy.ErrorCode);
    }
}
