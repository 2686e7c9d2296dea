using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace LogBroker.Integration.Tests;

/// <summary>Confluent.Kafka 2.16 (librdkafka) against the real broker: admin, produce, consume, offsets.</summary>
[Collection(BrokerCollectionDefinition.Name)]
public sealed class ConfluentClientTests(BrokerFixture broker)
{
    private CancellationToken Ct => TestContext.Current.CancellationToken;

    private IAdminClient Admin() => new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.Bootstrap }).Build();

    private IProducer<string?, byte[]?> Producer(Action<ProducerConfig>? configure = null)
    {
        var config = new ProducerConfig { BootstrapServers = broker.Bootstrap, LingerMs = 5, Acks = Acks.All, MessageTimeoutMs = 30_000 };
        configure?.Invoke(config);
        return new ProducerBuilder<string?, byte[]?>(config).Build();
    }

    private IConsumer<string?, byte[]?> Consumer() => new ConsumerBuilder<string?, byte[]?>(new ConsumerConfig
    {
        BootstrapServers = broker.Bootstrap,
        GroupId = "unused-" + Guid.NewGuid().ToString("N"), // required by librdkafka; Assign() never joins it
        EnableAutoCommit = false,
        AutoOffsetReset = AutoOffsetReset.Earliest,
    }).Build();

    [Fact]
    public async Task Admin_creates_describes_alters_and_deletes_topics()
    {
        using IAdminClient admin = Admin();
        string topic = BrokerFixture.UniqueTopic("admin");
        await admin.CreateTopicsAsync([new TopicSpecification
        {
            Name = topic,
            NumPartitions = 3,
            ReplicationFactor = 1,
            Configs = new Dictionary<string, string> { ["retention.ms"] = "3600000" },
        }]);

        var duplicate = await Assert.ThrowsAsync<CreateTopicsException>(() =>
            admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]));
        Assert.Equal(ErrorCode.TopicAlreadyExists, duplicate.Results[0].Error.Code);

        Metadata metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10));
        Assert.Equal(3, metadata.Topics.Single().Partitions.Count);

        var resource = new ConfigResource { Type = ResourceType.Topic, Name = topic };
        DescribeConfigsResult described = (await admin.DescribeConfigsAsync([resource])).Single();
        Assert.Equal("3600000", described.Entries["retention.ms"].Value);
        Assert.False(described.Entries["retention.ms"].IsDefault);
        Assert.True(described.Entries["segment.bytes"].IsDefault);

        await admin.IncrementalAlterConfigsAsync(new Dictionary<ConfigResource, List<ConfigEntry>>
        {
            [resource] = [new ConfigEntry { Name = "retention.bytes", Value = "1048576", IncrementalOperation = AlterConfigOpType.Set }],
        });
        described = (await admin.DescribeConfigsAsync([resource])).Single();
        Assert.Equal("1048576", described.Entries["retention.bytes"].Value);
        Assert.Equal("3600000", described.Entries["retention.ms"].Value);

        await admin.CreatePartitionsAsync([new PartitionsSpecification { Topic = topic, IncreaseTo = 5 }]);
        Assert.Equal(5, admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions.Count);

        await admin.DeleteTopicsAsync([topic]);
        Assert.DoesNotContain(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == topic);
    }

    [Fact]
    public async Task Hundred_thousand_keyed_records_with_acks_all_come_back_exactly_in_partition_order()
    {
        const int Count = 100_000;
        const int Partitions = 6;
        string topic = await CreateTopicAsync(Partitions);
        long baseTime = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 1_000_000;
        using (IProducer<string?, byte[]?> producer = Producer())
        {
            for (int i = 0; i < Count; i++)
            {
                var message = new Message<string?, byte[]?>
                {
                    Key = "key-" + (i % 1000),
                    Value = Encoding.UTF8.GetBytes("value-" + i),
                    Timestamp = new Timestamp(baseTime + i, TimestampType.CreateTime),
                    Headers = [new Header("index", BitConverter.GetBytes(i)), new Header("empty", [])],
                };
                Produce(producer, topic, message);
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        }

        var seen = new Dictionary<int, List<ConsumeResult<string?, byte[]?>>>();
        using (IConsumer<string?, byte[]?> consumer = Consumer())
        {
            consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
            int total = 0;
            DateTime deadline = DateTime.UtcNow.AddSeconds(60);
            while (total < Count && DateTime.UtcNow < deadline)
            {
                ConsumeResult<string?, byte[]?>? result = consumer.Consume(TimeSpan.FromMilliseconds(500));
                if (result is null || result.IsPartitionEOF)
                {
                    continue;
                }

                (seen.TryGetValue(result.Partition.Value, out var list) ? list : seen[result.Partition.Value] = []).Add(result);
                total++;
            }

            Assert.Equal(Count, total);
        }

        var indexes = new HashSet<int>();
        foreach ((int partition, List<ConsumeResult<string?, byte[]?>> records) in seen)
        {
            int previous = -1;
            for (int offset = 0; offset < records.Count; offset++)
            {
                ConsumeResult<string?, byte[]?> r = records[offset];
                Assert.Equal(offset, r.Offset.Value);
                int index = BitConverter.ToInt32(r.Message.Headers.GetLastBytes("index"));
                Assert.True(index > previous, "records of a partition keep the order they were produced in");
                previous = index;
                Assert.Equal("key-" + (index % 1000), r.Message.Key);
                Assert.Equal("value-" + index, Encoding.UTF8.GetString(r.Message.Value!));
                Assert.Equal(baseTime + index, r.Message.Timestamp.UnixTimestampMs);
                Assert.Empty(r.Message.Headers.GetLastBytes("empty"));
                Assert.True(indexes.Add(index), $"record {index} delivered twice");
            }
        }

        Assert.Equal(Count, indexes.Count);
        // The same key always lands on the same partition.
        Assert.All(seen.Values.SelectMany(v => v).GroupBy(r => r.Message.Key), g => Assert.Single(g.Select(r => r.Partition.Value).Distinct()));
    }

    [Theory]
    [InlineData(CompressionType.None)]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Snappy)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Zstd)]
    public async Task Every_codec_round_trips_with_null_and_empty_and_large_values(CompressionType codec)
    {
        string topic = await CreateTopicAsync(1);
        byte[] large = new byte[1024 * 1024 - 1024];
        new Random(5).NextBytes(large);
        var messages = new List<Message<string?, byte[]?>>
        {
            new() { Key = null, Value = null },
            new() { Key = "empty", Value = [] },
            new() { Key = "", Value = "x"u8.ToArray() },
            new() { Key = "large", Value = large },
        };
        for (int i = 0; i < 200; i++)
        {
            messages.Add(new() { Key = "k" + i, Value = Encoding.UTF8.GetBytes(new string('v', i)) });
        }

        using (IProducer<string?, byte[]?> producer = Producer(c =>
               {
                   c.CompressionType = codec;
                   c.MessageMaxBytes = 2 * 1024 * 1024;
               }))
        {
            foreach (Message<string?, byte[]?> message in messages)
            {
                Produce(producer, topic, message);
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        List<ConsumeResult<string?, byte[]?>> read = ConsumeAll(topic, 0, messages.Count);
        for (int i = 0; i < messages.Count; i++)
        {
            Assert.Equal(messages[i].Key, read[i].Message.Key);
            Assert.Equal(messages[i].Value, read[i].Message.Value);
        }
    }

    [Fact]
    public async Task Watermarks_and_offsets_for_times_answer_from_the_log()
    {
        string topic = await CreateTopicAsync(1);
        long t0 = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 100_000;
        using (IProducer<string?, byte[]?> producer = Producer(c => c.LingerMs = 0))
        {
            for (int i = 0; i < 50; i++)
            {
                await producer.ProduceAsync(topic, new Message<string?, byte[]?> { Key = "k", Value = [1], Timestamp = new Timestamp(t0 + (i * 1000), TimestampType.CreateTime) }, Ct);
            }
        }

        using IConsumer<string?, byte[]?> consumer = Consumer();
        var partition = new TopicPartition(topic, 0);
        WatermarkOffsets watermarks = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10));
        Assert.Equal((0L, 50L), (watermarks.Low.Value, watermarks.High.Value));

        List<TopicPartitionOffset> found = consumer.OffsetsForTimes(
            [new TopicPartitionTimestamp(partition, new Timestamp(t0 + 20_500, TimestampType.CreateTime))], TimeSpan.FromSeconds(10));
        Assert.Equal(21, found.Single().Offset.Value);

        List<TopicPartitionOffset> none = consumer.OffsetsForTimes(
            [new TopicPartitionTimestamp(partition, new Timestamp(t0 + 60_000, TimestampType.CreateTime))], TimeSpan.FromSeconds(10));
        Assert.Equal(Offset.End, none.Single().Offset);
    }

    [Fact]
    public async Task The_idempotent_producer_writes_fifty_thousand_records_without_duplicates()
    {
        const int Count = 50_000;
        string topic = await CreateTopicAsync(3);
        using (IProducer<string?, byte[]?> producer = Producer(c =>
               {
                   c.EnableIdempotence = true;
                   c.MaxInFlight = 5;
               }))
        {
            for (int i = 0; i < Count; i++)
            {
                Produce(producer, topic, new Message<string?, byte[]?> { Key = "k" + (i % 97), Value = BitConverter.GetBytes(i) });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        }

        var values = new HashSet<int>();
        for (int p = 0; p < 3; p++)
        {
            using IConsumer<string?, byte[]?> consumer = Consumer();
            WatermarkOffsets w = consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10));
            foreach (ConsumeResult<string?, byte[]?> r in ConsumeAll(topic, p, (int)w.High.Value))
            {
                Assert.True(values.Add(BitConverter.ToInt32(r.Message.Value)), "duplicate record");
            }
        }

        Assert.Equal(Count, values.Count);
    }

    private static void Produce(IProducer<string?, byte[]?> producer, string topic, Message<string?, byte[]?> message)
    {
        while (true)
        {
            try
            {
                producer.Produce(topic, message, report =>
                {
                    if (report.Error.IsError)
                    {
                        throw new InvalidOperationException($"delivery failed: {report.Error}");
                    }
                });
                return;
            }
            catch (ProduceException<string?, byte[]?> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                producer.Poll(TimeSpan.FromMilliseconds(50));
            }
        }
    }

    private async Task<string> CreateTopicAsync(int partitions)
    {
        string topic = BrokerFixture.UniqueTopic();
        using IAdminClient admin = Admin();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = 1 }]);
        return topic;
    }

    private List<ConsumeResult<string?, byte[]?>> ConsumeAll(string topic, int partition, int count)
    {
        using IConsumer<string?, byte[]?> consumer = Consumer();
        consumer.Assign(new TopicPartitionOffset(topic, partition, Offset.Beginning));
        var results = new List<ConsumeResult<string?, byte[]?>>();
        DateTime deadline = DateTime.UtcNow.AddSeconds(30);
        while (results.Count < count && DateTime.UtcNow < deadline)
        {
            ConsumeResult<string?, byte[]?>? r = consumer.Consume(TimeSpan.FromMilliseconds(500));
            if (r is { IsPartitionEOF: false })
            {
                results.Add(r);
            }
        }

        Assert.Equal(count, results.Count);
        return results;
    }
}
