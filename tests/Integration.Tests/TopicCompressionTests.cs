using System.Buffers;
using System.Buffers.Binary;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Records;
using LogBroker.TestKit;
using CompressionType = LogBroker.Protocol.Records.CompressionType;

namespace LogBroker.Integration.Tests;

/// <summary>
/// The topic config compression.type, as Kafka applies it: "producer" stores batches as sent, a codec
/// stores every batch in another codec re-encoded with it (the stored batch read back with Fetch).
/// </summary>
[Collection(BrokerCollectionDefinition.Name)]
public sealed class TopicCompressionTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Theory]
    [InlineData("zstd", CompressionType.None, CompressionType.Zstd)]
    [InlineData("gzip", CompressionType.Zstd, CompressionType.Gzip)]
    [InlineData("uncompressed", CompressionType.Lz4, CompressionType.None)]
    [InlineData("snappy", CompressionType.Snappy, CompressionType.Snappy)]
    [InlineData("producer", CompressionType.Gzip, CompressionType.Gzip)]
    [InlineData("producer", CompressionType.None, CompressionType.None)]
    public async Task A_batch_is_stored_in_the_topics_codec_with_the_same_records(string compressionType, CompressionType sent, CompressionType stored)
    {
        string topic = await CreateTopicAsync(compressionType);
        byte[] plain = new RecordBatchBuilder { ProducerId = -1 }.Add(1_700_000_000_000, "k0"u8, "value-0"u8).Add(1_700_000_000_005, "k1"u8, "value-1"u8)
            .Add(1_700_000_000_009, "k2"u8, "value-2"u8).ToArray();
        byte[] batch = Encode(plain, sent);
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        ProduceResponse produced = await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce(topic, 0, batch), Patience);
        Assert.Equal(0, produced.Responses[0].PartitionResponses[0].ErrorCode);

        FetchResponse fetched = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 12, new FetchRequest
        {
            MaxWaitMs = 0,
            MinBytes = 1,
            MaxBytes = 1 << 20,
            Topics = [new FetchRequest.FetchTopic { Topic = topic, Partitions = [new FetchRequest.FetchPartition { Partition = 0, FetchOffset = 0, PartitionMaxBytes = 1 << 20 }] }],
        }, Patience);

        byte[] records = fetched.Responses[0].Partitions[0].Records!.Value.ToArray();
        Assert.Equal(BatchValidation.Valid, RecordBatch.Validate(records, out RecordBatchHeader header, out int size));
        Assert.Equal(records.Length, size);
        Assert.Equal(stored, header.Compression);
        Assert.Equal((0L, 3, 2, 1_700_000_000_000L, 1_700_000_000_009L), (header.BaseOffset, header.RecordCount, header.LastOffsetDelta, header.BaseTimestamp, header.MaxTimestamp));
        Assert.Equal(Convert.ToHexString(plain.AsSpan(RecordBatch.HeaderSize)), Convert.ToHexString(Decoded(records, header)));
    }

    [Fact]
    public async Task Confluent_idempotent_records_sent_uncompressed_to_a_zstd_topic_are_stored_as_zstd_and_consumed_intact()
    {
        string topic = await CreateTopicAsync("zstd");
        using (IProducer<string, string> producer = new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = broker.Bootstrap,
            EnableIdempotence = true,
            CompressionType = Confluent.Kafka.CompressionType.None,
            LingerMs = 50,
        }).Build())
        {
            for (int i = 0; i < 20; i++)
            {
                producer.Produce(topic, new Message<string, string> { Key = $"k{i}", Value = $"value-{i}" });
            }

            Assert.Equal(0, producer.Flush(Patience));
        }

        using (RawConnection connection = await RawConnection.OpenAsync(broker.Port))
        {
            FetchResponse fetched = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 12, new FetchRequest
            {
                MaxWaitMs = 0,
                MinBytes = 1,
                MaxBytes = 1 << 20,
                Topics = [new FetchRequest.FetchTopic { Topic = topic, Partitions = [new FetchRequest.FetchPartition { Partition = 0, FetchOffset = 0, PartitionMaxBytes = 1 << 20 }] }],
            }, Patience);
            List<(long BaseOffset, int Records, byte[] Bytes)> batches = Batches.Split(fetched.Responses[0].Partitions[0].Records!.Value.Span);
            Assert.NotEmpty(batches);
            Assert.All(batches, b =>
            {
                RecordBatch.Validate(b.Bytes, out RecordBatchHeader h, out _);
                Assert.Equal(CompressionType.Zstd, h.Compression);
                Assert.True(h.ProducerId >= 0);
            });
        }

        using IConsumer<string, string> consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = broker.Bootstrap,
            GroupId = "unused-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, 0));
        for (int i = 0; i < 20; i++)
        {
            ConsumeResult<string, string> result = consumer.Consume(Patience);
            Assert.NotNull(result);
            Assert.Equal((i, $"k{i}", $"value-{i}"), ((int)result.Offset.Value, result.Message.Key, result.Message.Value));
        }
    }

    [Fact]
    public async Task Compression_type_is_described_and_can_be_altered()
    {
        string topic = await CreateTopicAsync("zstd");
        using IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.Bootstrap }).Build();
        var resource = new ConfigResource { Type = ResourceType.Topic, Name = topic };
        await admin.IncrementalAlterConfigsAsync(new Dictionary<ConfigResource, List<ConfigEntry>>
        {
            [resource] = [new ConfigEntry { Name = "compression.type", Value = "lz4", IncrementalOperation = AlterConfigOpType.Set }],
        });
        List<DescribeConfigsResult> described = await admin.DescribeConfigsAsync([resource]);
        Assert.Equal("lz4", described[0].Entries["compression.type"].Value);

        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce(topic, 0, Batches.Create(4)), Patience);
        FetchResponse fetched = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 12, new FetchRequest
        {
            MaxWaitMs = 0,
            MinBytes = 1,
            MaxBytes = 1 << 20,
            Topics = [new FetchRequest.FetchTopic { Topic = topic, Partitions = [new FetchRequest.FetchPartition { Partition = 0, FetchOffset = 0, PartitionMaxBytes = 1 << 20 }] }],
        }, Patience);
        RecordBatch.Validate(fetched.Responses[0].Partitions[0].Records!.Value.Span, out RecordBatchHeader header, out _);
        Assert.Equal(CompressionType.Lz4, header.Compression);
    }

    private async Task<string> CreateTopicAsync(string compressionType)
    {
        string topic = BrokerFixture.UniqueTopic("compression");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        CreateTopicsResponse created = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
        {
            Topics =
            [
                new CreateTopicsRequest.CreatableTopic
                {
                    Name = topic,
                    NumPartitions = 1,
                    ReplicationFactor = 1,
                    Configs = [new CreateTopicsRequest.CreatableTopicConfig { Name = "compression.type", Value = compressionType }],
                },
            ],
        }, Patience);
        Assert.Equal(0, created.Topics[0].ErrorCode);
        return topic;
    }

    /// <summary>The uncompressed batch with its records compressed by <paramref name="codec"/>, as a producer sends it.</summary>
    private static byte[] Encode(byte[] plain, CompressionType codec)
    {
        if (codec == CompressionType.None)
        {
            return plain;
        }

        var output = new ArrayBufferWriter<byte>();
        output.Write(plain.AsSpan(0, RecordBatch.HeaderSize));
        LogBroker.Client.Compression.CompressionCodecs.Compress(codec, plain.AsSpan(RecordBatch.HeaderSize), output);
        byte[] batch = output.WrittenSpan.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.LengthOffset), batch.Length - RecordBatch.LogOverhead);
        BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(RecordBatch.AttributesOffset), (short)codec);
        RecordBatch.WriteCrc(batch);
        return batch;
    }

    private static byte[] Decoded(byte[] batch, RecordBatchHeader header)
    {
        var output = new ArrayBufferWriter<byte>();
        Assert.True(LogBroker.Client.Compression.CompressionCodecs.TryDecompress(header.Compression, batch.AsSpan(RecordBatch.HeaderSize, header.TotalSize - RecordBatch.HeaderSize), output, 1 << 24, out _));
        return output.WrittenSpan.ToArray();
    }
}
