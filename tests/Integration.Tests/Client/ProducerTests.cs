using System.Text;
using Confluent.Kafka;
using LogBroker.Client.Producer;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Records;
using Acks = LogBroker.Client.Producer.Acks;
using CompressionType = LogBroker.Protocol.Records.CompressionType;

namespace LogBroker.Integration.Tests.Client;

[Collection(BrokerCollectionDefinition.Name)]
public sealed class ProducerTests(BrokerFixture broker)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<string> TopicAsync(int partitions) => ClientTopics.CreateAsync(broker, "producer", partitions, Ct);

    private IConsumer<byte[]?, byte[]?> ConfluentConsumer() =>
        new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = broker.Bootstrap,
            GroupId = "g-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();

    private static List<ConsumeResult<byte[]?, byte[]?>> ReadAll(IConsumer<byte[]?, byte[]?> consumer, int count)
    {
        var results = new List<ConsumeResult<byte[]?, byte[]?>>();
        DateTime deadline = DateTime.UtcNow.AddSeconds(30);
        while (results.Count < count && DateTime.UtcNow < deadline)
        {
            ConsumeResult<byte[]?, byte[]?>? r = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (r is { IsPartitionEOF: false })
            {
                results.Add(r);
            }
        }

        return results;
    }

    [Theory]
    [InlineData(CompressionType.None)]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Snappy)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Zstd)]
    public async Task Records_produced_with_each_codec_read_byte_identical_by_Confluent(CompressionType codec)
    {
        string topic = await TopicAsync(3);
        const int Count = 500;
        var records = new List<ProducerRecord>();
        var baseTime = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
        for (int i = 0; i < Count; i++)
        {
            byte[]? key = i % 10 == 0 ? null : Encoding.UTF8.GetBytes("key-" + (i % 37));
            byte[]? value = i % 50 == 7 ? null : Encoding.UTF8.GetBytes(new string((char)('a' + (i % 26)), i % 200) + i);
            records.Add(new ProducerRecord(key, value)
            {
                Timestamp = baseTime.AddMilliseconds(i),
                Headers = i % 3 == 0 ? [new RecordHeader("h1", Encoding.UTF8.GetBytes("v" + i)), new RecordHeader("nullh", null)] : null,
            });
        }

        await using (var producer = new KafkaProducer(new ProducerOptions { BootstrapServers = broker.Bootstrap, CompressionType = codec }))
        {
            await producer.ProduceBatchAsync(topic, records, Ct);
        }

        Assert.True(await StoredBatchesAsync(topic, 3, codec) >= 3); // what the rest checks would pass uncompressed too

        using IConsumer<byte[]?, byte[]?> consumer = ConfluentConsumer();
        consumer.Subscribe(topic);
        List<ConsumeResult<byte[]?, byte[]?>> read = ReadAll(consumer, Count);
        consumer.Close();
        Assert.Equal(Count, read.Count);
        foreach (ConsumeResult<byte[]?, byte[]?> r in read)
        {
            long i = r.Message.Timestamp.UnixTimestampMs - baseTime.ToUnixTimeMilliseconds();
            ProducerRecord sent = records[(int)i];
            Assert.Equal(sent.Key?.ToArray(), r.Message.Key);
            Assert.Equal(sent.Value?.ToArray(), r.Message.Value);
            if (sent.Key is { } key)
            {
                Assert.Equal(KafkaProducer.PartitionForKey(key.Span, 3), r.Partition.Value);
            }

            if (sent.Headers is null)
            {
                Assert.Empty(r.Message.Headers ?? []);
            }
            else
            {
                Assert.Equal(2, r.Message.Headers!.Count);
                Assert.Equal("h1", r.Message.Headers[0].Key);
                Assert.Equal(sent.Headers[0].Value!.Value.ToArray(), r.Message.Headers[0].GetValueBytes());
                Assert.Null(r.Message.Headers[1].GetValueBytes());
            }
        }
    }

    /// <summary>Fetches every partition raw and checks that each stored batch is compressed with <paramref name="codec"/>; returns the number of batches.</summary>
    private async Task<int> StoredBatchesAsync(string topic, int partitions, CompressionType codec)
    {
        using RawConnection raw = await RawConnection.OpenAsync(broker.Port);
        int batches = 0;
        for (int p = 0; p < partitions; p++)
        {
            var fetch = new FetchRequest
            {
                MaxWaitMs = 0,
                MaxBytes = 8 << 20,
                Topics = [new FetchRequest.FetchTopic { Topic = topic, Partitions = [new FetchRequest.FetchPartition { Partition = p, PartitionMaxBytes = 8 << 20 }] }],
            };
            FetchResponse fetched = await raw.RequestAsync<FetchResponse>(ApiKey.Fetch, 11, fetch, TimeSpan.FromSeconds(15));
            ReadOnlySpan<byte> stored = fetched.Responses[0].Partitions[0].Records.GetValueOrDefault().Span;
            while (!stored.IsEmpty)
            {
                Assert.Equal(BatchValidation.Valid, RecordBatch.Validate(stored, out RecordBatchHeader header, out int size));
                Assert.Equal(codec, header.Compression);
                stored = stored[size..];
                batches++;
            }
        }

        return batches;
    }

    [Fact]
    public async Task A_key_lands_on_the_same_partition_as_with_the_Java_compatible_murmur2_of_Confluent()
    {
        string topic = await TopicAsync(7);
        using (IProducer<string, string> confluent = new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = broker.Bootstrap,
            Partitioner = Partitioner.Murmur2Random,
        }).Build())
        {
            for (int i = 0; i < 100; i++)
            {
                await confluent.ProduceAsync(topic, new Message<string, string> { Key = "user-" + i, Value = "confluent" }, Ct);
            }
        }

        await using (var producer = new KafkaProducer(new ProducerOptions { BootstrapServers = broker.Bootstrap }))
        {
            for (int i = 0; i < 100; i++)
            {
                DeliveryResult d = await producer.ProduceAsync(topic, new ProducerRecord(Encoding.UTF8.GetBytes("user-" + i), Encoding.UTF8.GetBytes("ours")), Ct);
                Assert.True(d.Offset >= 0);
            }
        }

        using IConsumer<byte[]?, byte[]?> consumer = ConfluentConsumer();
        consumer.Subscribe(topic);
        var partitionOf = new Dictionary<string, int>();
        foreach (ConsumeResult<byte[]?, byte[]?> r in ReadAll(consumer, 200))
        {
            string key = Encoding.UTF8.GetString(r.Message.Key!);
            if (partitionOf.TryGetValue(key, out int p))
            {
                Assert.Equal(p, r.Partition.Value);
            }
            else
            {
                partitionOf[key] = r.Partition.Value;
            }
        }

        Assert.Equal(100, partitionOf.Count);
    }

    [Theory]
    [InlineData(Acks.None)]
    [InlineData(Acks.Leader)]
    [InlineData(Acks.All)]
    public async Task Each_acks_setting_delivers_every_record(Acks acks)
    {
        string topic = await TopicAsync(2);
        await using (var producer = new KafkaProducer(new ProducerOptions { BootstrapServers = broker.Bootstrap, Acks = acks, EnableIdempotence = acks == Acks.All }))
        {
            var tasks = new List<Task<DeliveryResult>>();
            for (int i = 0; i < 1000; i++)
            {
                tasks.Add(producer.ProduceAsync(topic, new ProducerRecord(null, Encoding.UTF8.GetBytes("r" + i)), Ct).AsTask());
            }

            var offsets = new HashSet<(int, long)>();
            foreach (Task<DeliveryResult> t in tasks)
            {
                DeliveryResult d = await t;
                if (acks == Acks.None)
                {
                    Assert.Equal(-1, d.Offset);
                }
                else
                {
                    Assert.True(offsets.Add((d.Partition.Partition, d.Offset)), "each record has its own offset");
                }
            }

            await producer.FlushAsync(Ct);
        }

        using IConsumer<byte[]?, byte[]?> consumer = ConfluentConsumer();
        consumer.Subscribe(topic);
        Assert.Equal(1000, ReadAll(consumer, 1000).Select(r => Encoding.UTF8.GetString(r.Message.Value!)).Distinct().Count());
    }

    [Fact]
    public async Task TryProduce_fails_fast_when_the_buffer_is_full_and_recovers_once_delivered()
    {
        string topic = await TopicAsync(1);
        await using var producer = new KafkaProducer(new ProducerOptions
        {
            BootstrapServers = broker.Bootstrap,
            BufferMemory = 2 * 1024 * 1024,
            MessageMaxBytes = 1024 * 1024,
            BatchSize = 512 * 1024,
            Linger = TimeSpan.FromSeconds(5),
        });
        await producer.ProduceAsync(topic, new ProducerRecord(null, new byte[10]), Ct); // metadata known now

        byte[] value = new byte[100 * 1024];
        int accepted = 0;
        while (producer.TryProduce(topic, new ProducerRecord(null, value)))
        {
            accepted++;
            Assert.True(accepted < 100, "the buffer must fill up");
        }

        Assert.InRange(accepted, 10, 25);
        await producer.FlushAsync(Ct);
        Assert.Equal(0, producer.BufferedBytes);
        Assert.True(producer.TryProduce(topic, new ProducerRecord(null, value)));
    }

    [Fact]
    public async Task Producing_to_an_unreachable_broker_fails_within_the_delivery_timeout()
    {
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        await using var producer = new KafkaProducer(new ProducerOptions
        {
            BootstrapServers = $"127.0.0.1:{port}",
            DeliveryTimeout = TimeSpan.FromSeconds(2),
            RequestTimeout = TimeSpan.FromSeconds(1),
        });
        var watch = System.Diagnostics.Stopwatch.StartNew();
        LogBroker.Client.KafkaException e = await Assert.ThrowsAnyAsync<LogBroker.Client.KafkaException>(
            async () => await producer.ProduceAsync("t", new ProducerRecord(null, new byte[1]), Ct));
        Assert.Equal(LogBroker.Protocol.ErrorCode.NetworkException, e.ErrorCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"took {watch.Elapsed}");
    }
}
