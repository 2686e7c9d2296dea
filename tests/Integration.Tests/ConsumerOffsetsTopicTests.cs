using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests;

/// <summary>
/// <c>__consumer_offsets</c> as Kafka has it (issue 16): listed as an internal topic, readable by any
/// client, its records in Kafka's schemas (decoded by <see cref="KafkaRecord"/>, written from Kafka's
/// JSON definitions), and refused to producers.
/// </summary>
public sealed class ConsumerOffsetsTopicTests : IAsyncLifetime
{
    private const string OffsetsTopic = "__consumer_offsets";

    private readonly BrokerFixture _broker = new() { Settings = ["--Broker:GroupInitialRebalanceDelay=00:00:00.100"] };

    public ValueTask InitializeAsync() => _broker.InitializeAsync();

    public ValueTask DisposeAsync() => _broker.DisposeAsync();

    [Fact]
    public async Task A_confluent_consumer_reads_every_record_of_consumer_offsets_with_kafkas_schemas()
    {
        string topic = BrokerFixture.UniqueTopic("offsets");
        string group = "decode-" + Guid.NewGuid().ToString("N");
        using (IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.Bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 2, ReplicationFactor = 1 }]);
        }

        using (IConsumer<Null, string> member = new ConsumerBuilder<Null, string>(new ConsumerConfig
        {
            BootstrapServers = _broker.Bootstrap,
            GroupId = group,
            EnableAutoCommit = false,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.Range,
        }).SetLogHandler((_, _) => { }).Build())
        {
            member.Subscribe(topic);
            DateTime deadline = DateTime.UtcNow.AddSeconds(30);
            while (member.Assignment.Count < 2 && DateTime.UtcNow < deadline)
            {
                member.Consume(TimeSpan.FromMilliseconds(100));
            }

            Assert.Equal(2, member.Assignment.Count);
            member.Commit([new TopicPartitionOffset(topic, 0, 5), new TopicPartitionOffset(topic, 1, 9)]);
            member.Close(); // the group empties: a second GroupMetadata record
        }

        // Metadata: an internal topic with its partition.
        using (RawConnection raw = await RawConnection.OpenAsync(_broker.Port))
        {
            var asked = new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = OffsetsTopic }] };
            MetadataResponse named = await raw.RequestAsync<MetadataResponse>(ApiKey.Metadata, 9, asked, TimeSpan.FromSeconds(15));
            MetadataResponse.MetadataResponseTopic described = Assert.Single(named.Topics);
            Assert.Equal((short)0, described.ErrorCode);
            Assert.True(described.IsInternal);
            Assert.Equal(0, Assert.Single(described.Partitions).PartitionIndex);
            MetadataResponse all = await raw.RequestAsync<MetadataResponse>(ApiKey.Metadata, 9, new MetadataRequest { Topics = null }, TimeSpan.FromSeconds(15));
            Assert.True(all.Topics.Single(t => t.Name == OffsetsTopic).IsInternal);
            Assert.False(all.Topics.Single(t => t.Name == topic).IsInternal);
        }

        // Every record decodes with Kafka's schemas.
        var records = new List<KafkaRecord>();
        using (IConsumer<byte[], byte[]> reader = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = _broker.Bootstrap,
            GroupId = "reader-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            EnablePartitionEof = true,
        }).SetLogHandler((_, _) => { }).Build())
        {
            WatermarkOffsets marks = reader.QueryWatermarkOffsets(new TopicPartition(OffsetsTopic, 0), TimeSpan.FromSeconds(10));
            Assert.True(marks.High > marks.Low);
            reader.Assign(new TopicPartitionOffset(OffsetsTopic, 0, Offset.Beginning));
            DateTime deadline = DateTime.UtcNow.AddSeconds(30);
            while (DateTime.UtcNow < deadline)
            {
                ConsumeResult<byte[], byte[]>? result = reader.Consume(TimeSpan.FromMilliseconds(200));
                if (result is null)
                {
                    continue;
                }

                if (result.IsPartitionEOF)
                {
                    break;
                }

                records.Add(KafkaRecord.Decode(result.Message.Key, result.Message.Value));
            }

            Assert.Equal(marks.High - marks.Low, records.Count); // the log end offset ListOffsets gave, record by record
        }

        KafkaRecord[] commits = [.. records.Where(r => r.Group == group && r.KeyVersion == 1)];
        Assert.Equal([(topic, 0, 5L, 3), (topic, 1, 9L, 3)], commits.Select(r => (r.Topic!, r.Partition, r.Offset, (int)r.ValueVersion)).Order());
        KafkaRecord[] states = [.. records.Where(r => r.Group == group && r.KeyVersion == 2)];
        Assert.True(states.Length >= 2, $"{states.Length} GroupMetadata records");
        KafkaRecord settled = states.First(s => s.Members!.Count == 1);
        Assert.Equal(("consumer", "range", 3), (settled.ProtocolType, settled.Protocol, (int)settled.ValueVersion));
        Assert.Equal(settled.Members![0].Head.Item1, settled.Leader);
        Assert.NotEmpty(settled.Members[0].Assignment);
        Assert.Empty(states[^1].Members!); // the last state: empty after the member left
        Assert.Null(states[^1].Protocol);

        // Clients cannot write it (Kafka answers INVALID_TOPIC_EXCEPTION).
        using IProducer<byte[], byte[]> producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = _broker.Bootstrap,
            MessageTimeoutMs = 10_000,
        }).SetLogHandler((_, _) => { }).Build();
        var refused = await Assert.ThrowsAsync<ProduceException<byte[], byte[]>>(() =>
            producer.ProduceAsync(new TopicPartition(OffsetsTopic, 0), new Message<byte[], byte[]> { Key = [1], Value = [2] }, TestContext.Current.CancellationToken));
        Assert.Equal(Confluent.Kafka.ErrorCode.TopicException, refused.Error.Code);
    }
}
