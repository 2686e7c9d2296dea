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
