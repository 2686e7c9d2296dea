using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.Broker.Metadata;
using LogBroker.Integration.Tests;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;
using ApiKey = LogBroker.Protocol.Messages.ApiKey;

namespace LogBroker.Ops.Tests;

/// <summary>
/// /metrics after real traffic: the values equal what the test did (exact counts), read from the
/// Prometheus text a scraper would see.
/// </summary>
public sealed class MetricsTests(OpsBroker broker) : IClassFixture<OpsBroker>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Produce_consume_and_commit_show_as_exact_counts_offsets_and_lag()
    {
        string topic = OpsBroker.UniqueName("metrics");
        string group = OpsBroker.UniqueName("group");
        using (IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.Bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 2, ReplicationFactor = 1 }]);
        }

        using (IProducer<string, string> producer = new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = broker.Bootstrap,
            Acks = Acks.All,
            LingerMs = 0,
        }).Build())
        {
            for (int i = 0; i < 15; i++)
            {
                await producer.ProduceAsync(new TopicPartition(topic, i < 10 ? 0 : 1), new Message<string, string> { Key = $"k{i}", Value = $"value {i}" }, Ct);
            }
        }

        Topic stored = broker.Service<TopicRegistry>().Get(topic)!;
        long size = stored.Partitions[0].Size + stored.Partitions[1].Size;
        Scrape scrape = await broker.ScrapeAsync();
        Assert.Equal(15, scrape.Value("logbroker_produce_records_total", ("topic", topic)));
        Assert.Equal(size, scrape.Value("logbroker_produce_bytes_total", ("topic", topic)));
        Assert.Equal(15, scrape.Value("logbroker_log_high_watermark", ("topic", topic)));
        Assert.Equal(15, scrape.Value("logbroker_log_records", ("topic", topic)));
        Assert.Equal(0, scrape.Value("logbroker_log_start_offset", ("topic", topic)));
        Assert.Equal(size, scrape.Value("logbroker_log_size_bytes", ("topic", topic)));
        Assert.Equal(2, scrape.Value("logbroker_log_segments", ("topic", topic)));
        Assert.Equal(2, scrape.Value("logbroker_topic_partitions", ("topic", topic)));
        Assert.False(scrape.Has("logbroker_log_high_watermark", ("topic", topic), ("partition", "0")), "per-partition series are off by default");

        using (IConsumer<string, string> consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = broker.Bootstrap,
            GroupId = group,
            EnableAutoCommit = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build())
        {
            consumer.Assign([new TopicPartitionOffset(topic, 0, Offset.Beginning), new TopicPartitionOffset(topic, 1, Offset.Beginning)]);
            int received = 0;
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            deadline.CancelAfter(Timeout);
            while (received < 15)
            {
                if (consumer.Consume(deadline.Token) is { IsPartitionEOF: false })
                {
                    received++;
                }
            }

            consumer.Commit([new TopicPartitionOffset(topic, 0, 7), new TopicPartitionOffset(topic, 1, 2)]);
            consumer.Close();
        }

        scrape = await broker.ScrapeAsync();
        Assert.Equal(15, scrape.Value("logbroker_fetch_records_total", ("topic", topic)));
        Assert.Equal(size, scrape.Value("logbroker_fetch_bytes_total", ("topic", topic)));
        Assert.Equal(7, scrape.Value("logbroker_group_committed_offset", ("group", group), ("topic", topic), ("partition", "0")));
        Assert.Equal(2, scrape.Value("logbroker_group_committed_offset", ("group", group), ("topic", topic), ("partition", "1")));
        Assert.Equal(10 - 7, scrape.Value("logbroker_group_lag", ("group", group), ("topic", topic), ("partition", "0")));
        Assert.Equal(5 - 2, scrape.Value("logbroker_group_lag", ("group", group), ("topic", topic), ("partition", "1")));
        Assert.Equal(1, scrape.Value("logbroker_group_state", ("group", group), ("state", "Empty")));
        Assert.Equal(0, scrape.Value("logbroker_group_members", ("group", group)));

        // Time lag: now minus the timestamp of record 7 of partition 0, which the producer stamped a moment ago.
        double timeLag = scrape.Value("logbroker_group_time_lag_seconds", ("group", group), ("topic", topic), ("partition", "0"));
        Assert.InRange(timeLag, 0, 120);
        Assert.True(scrape.Has("logbroker_group_time_lag_seconds", ("group", group), ("topic", topic), ("partition", "0")));
        Assert.True(scrape.Value("logbroker_disk_total_bytes") > 0);
        Assert.True(scrape.Value("logbroker_uptime_seconds") > 0);
        Assert.True(scrape.Has("dotnet_gc_collections_total"), "runtime metrics are exported");
    }

    [Fact]
    public async Task Raw_requests_errors_fsyncs_and_connections_are_counted_exactly()
    {
        string topic = OpsBroker.UniqueName("raw");
        Assert.Equal(Protocol.ErrorCode.None, broker.Service<TopicRegistry>().Create(topic, 1, new Dictionary<string, string?>(), false, out _));
        Scrape before = await broker.ScrapeAsync();
        string listener = $"127.0.0.1:0";

        using (RawConnection raw = await RawConnection.OpenAsync(broker.Port))
        {
            for (int i = 0; i < 3; i++)
            {
                await raw.RequestAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest { ClientSoftwareName = "raw", ClientSoftwareVersion = "1" }, Timeout);
            }

            for (int i = 0; i < 4; i++)
            {
                ProduceResponse produced = await raw.RequestAsync<ProduceResponse>(ApiKey.Produce, 9, Produce(topic, partition: 0, Batches.Create(3)), Timeout);
                Assert.Equal(0, produced.Responses[0].PartitionResponses[0].ErrorCode);
            }

            ProduceResponse refused = await raw.RequestAsync<ProduceResponse>(ApiKey.Produce, 9, Produce(topic, partition: 7, Batches.Create(1)), Timeout);
            Assert.Equal((short)Protocol.ErrorCode.UnknownTopicOrPartition, refused.Responses[0].PartitionResponses[0].ErrorCode);

            Scrape during = await broker.ScrapeAsync();
            Assert.Equal(1, Delta(before, during, "logbroker_connections_opened_total", ("listener", listener)));
            Assert.Equal(1, Delta(before, during, "logbroker_connections_active", ("listener", listener)));
        }

        Scrape after = await broker.ScrapeAsync();
        for (int i = 0; i < 100 && Delta(before, after, "logbroker_connections_closed_total", ("listener", listener)) == 0; i++)
        {
            await Task.Delay(50, Ct); // the broker notices the close asynchronously
            after = await broker.ScrapeAsync();
        }

        Assert.Equal(3, Delta(before, after, "logbroker_requests_total", ("api", "ApiVersions"), ("version", "3")));
        Assert.Equal(3, Delta(before, after, "logbroker_request_duration_seconds_count", ("api", "ApiVersions"), ("version", "3")));
        Assert.Equal(5, Delta(before, after, "logbroker_requests_total", ("api", "Produce"), ("version", "9")));
        Assert.Equal(12, Delta(before, after, "logbroker_produce_records_total", ("topic", topic)));
        Assert.Equal(1, Delta(before, after, "logbroker_request_errors_total", ("api", "Produce"), ("error", "UNKNOWN_TOPIC_OR_PARTITION")));
        Assert.Equal(0, Delta(before, after, "logbroker_request_errors_total", ("api", "ApiVersions"), ("error", "UNKNOWN_TOPIC_OR_PARTITION")));
        Assert.Equal(4, Delta(before, after, "logbroker_fsyncs_total"));
        Assert.Equal(4, Delta(before, after, "logbroker_fsync_duration_seconds_count"));
        Assert.Equal(1, Delta(before, after, "logbroker_connections_closed_total", ("listener", listener)));
        Assert.Equal(0, Delta(before, after, "logbroker_connections_active", ("listener", listener)));
    }

    private static double Delta(Scrape before, Scrape after, string name, params (string, string)[] labels) =>
        after.Value(name, labels) - before.Value(name, labels);

    private static ProduceRequest Produce(string topic, int partition, byte[] batch) => RequestFrames.Produce(topic, partition, batch, acks: -1, timeoutMs: 10_000);
}
