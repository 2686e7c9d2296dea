using System.Text;
using Confluent.Kafka;
using LogBroker.Client.Admin;
using LogBroker.Client.Consumer;
using LogBroker.Client.Producer;
using AutoOffsetReset = LogBroker.Client.Consumer.AutoOffsetReset;
using CompressionType = Confluent.Kafka.CompressionType;
using GroupProtocol = LogBroker.Client.Consumer.GroupProtocol;
using PartitionAssignmentStrategy = LogBroker.Client.Consumer.PartitionAssignmentStrategy;
using TopicPartition = LogBroker.Client.TopicPartition;
using TopicPartitionOffset = LogBroker.Client.TopicPartitionOffset;

namespace LogBroker.Integration.Tests.Client;

[Collection(BrokerCollectionDefinition.Name)]
public sealed class ConsumerTests(BrokerFixture broker)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<string> TopicAsync(int partitions) => ClientTopics.CreateAsync(broker, "consumer", partitions, Ct);

    private ConsumerOptions Options(string? group = null) => new()
    {
        BootstrapServers = broker.Bootstrap,
        GroupId = group,
        AutoOffsetReset = AutoOffsetReset.Earliest,
        FetchMaxWait = TimeSpan.FromMilliseconds(100),
    };

    private static async Task<List<ConsumeRecord>> ReadAsync(KafkaConsumer consumer, int count, TimeSpan? timeout = null)
    {
        var records = new List<ConsumeRecord>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(timeout ?? TimeSpan.FromSeconds(30));
        try
        {
            await foreach (ConsumeBatch batch in consumer.ConsumeBatchesAsync(cts.Token))
            {
                records.AddRange(batch.ToList());
                if (records.Count >= count)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
        }

        return records;
    }

    [Theory]
    [InlineData(CompressionType.None)]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Snappy)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Zstd)]
    public async Task Records_from_Confluent_with_each_codec_read_byte_identical(CompressionType codec)
    {
        string topic = await TopicAsync(2);
        const int Count = 400;
        var sent = new Dictionary<string, Message<byte[]?, byte[]?>>();
        using (IProducer<byte[]?, byte[]?> producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig
        {
            BootstrapServers = broker.Bootstrap,
            CompressionType = codec,
            LingerMs = 20,
            Partitioner = Partitioner.Murmur2Random,
        }).Build())
        {
            for (int i = 0; i < Count; i++)
            {
                var message = new Message<byte[]?, byte[]?>
                {
                    Key = i % 5 == 0 ? null : Encoding.UTF8.GetBytes("k" + (i % 17)),
                    Value = Encoding.UTF8.GetBytes(i + ":" + new string('x', i % 300)),
                    Timestamp = new Timestamp(1_700_000_000_000 + i, TimestampType.CreateTime),
                    Headers = i % 4 == 0 ? [new Header("h", Encoding.UTF8.GetBytes("v" + i))] : [],
                };
                sent[i.ToString(System.Globalization.CultureInfo.InvariantCulture)] = message;
                producer.Produce(topic, message);
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        await using var consumer = new KafkaConsumer(Options());
        consumer.Assign([new TopicPartitionOffset(topic, 0, Offsets.Beginning), new TopicPartitionOffset(topic, 1, Offsets.Beginning)]);
        List<ConsumeRecord> read = await ReadAsync(consumer, Count);
        Assert.Equal(Count, read.Count);
        var lastOffset = new Dictionary<int, long>();
        foreach (ConsumeRecord r in read)
        {
            string value = Encoding.UTF8.GetString(r.Value!);
            Message<byte[]?, byte[]?> m = sent[value[..value.IndexOf(':', StringComparison.Ordinal)]];
            Assert.Equal(m.Key, r.Key);
            Assert.Equal(m.Value, r.Value);
            Assert.Equal(m.Timestamp.UnixTimestampMs, r.Timestamp);
            Assert.Equal(m.Headers.Count, r.Headers.Count);
            if (m.Headers.Count > 0)
            {
                Assert.Equal("h", r.Headers[0].Key);
                Assert.Equal(m.Headers[0].GetValueBytes(), r.Headers[0].Value!.Value.ToArray());
            }

            if (m.Key is { } key)
            {
                Assert.Equal(KafkaProducer.PartitionForKey(key, 2), r.Partition.Partition);
            }

            Assert.True(!lastOffset.TryGetValue(r.Partition.Partition, out long prev) || r.Offset == prev + 1, "offsets in order, no gaps");
            lastOffset[r.Partition.Partition] = r.Offset;
        }
    }

    [Fact]
    public async Task Seek_by_offset_and_by_timestamp_and_pause_resume()
    {
        string topic = await TopicAsync(1);
        await using (var producer = new KafkaProducer(new ProducerOptions { BootstrapServers = broker.Bootstrap }))
        {
            var records = new List<ProducerRecord>();
            for (int i = 0; i < 100; i++)
            {
                records.Add(new ProducerRecord(null, Encoding.UTF8.GetBytes("v" + i)) { Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000 + (i * 1000)) });
            }

            await producer.ProduceBatchAsync(topic, records, Ct);
        }

        await using var consumer = new KafkaConsumer(Options());
        var tp = new TopicPartition(topic, 0);
        consumer.Assign([new TopicPartitionOffset(topic, 0, 40)]);
        List<ConsumeRecord> read = await ReadAsync(consumer, 60);
        Assert.Equal(40, read[0].Offset);
        Assert.Equal(99, read[^1].Offset);
        Assert.Equal(100, consumer.Position(tp));

        await consumer.SeekToTimestampAsync([tp], DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000 + 72_500), Ct);
        read = await ReadAsync(consumer, 27);
        Assert.Equal(73, read[0].Offset);
        Assert.Equal("v73", Encoding.UTF8.GetString(read[0].Value!));

        consumer.Seek(new TopicPartitionOffset(topic, 0, 10));
        consumer.Pause([tp]);
        Assert.Empty(await ReadAsync(consumer, 1, TimeSpan.FromSeconds(1)));
        consumer.Resume([tp]);
        read = await ReadAsync(consumer, 1);
        Assert.Equal(10, read[0].Offset);
    }

    [Fact]
    public async Task A_consumer_resumes_from_the_offsets_it_committed()
    {
        string topic = await TopicAsync(2);
        await using (var producer = new KafkaProducer(new ProducerOptions { BootstrapServers = broker.Bootstrap }))
        {
            var records = new List<ProducerRecord>();
            for (int i = 0; i < 200; i++)
            {
                records.Add(new ProducerRecord(Encoding.UTF8.GetBytes("k" + i), Encoding.UTF8.GetBytes("v" + i)));
            }

            await producer.ProduceBatchAsync(topic, records, Ct);
        }

        string group = "g-" + Guid.NewGuid().ToString("N");
        var first = new HashSet<string>();
        await using (var consumer = new KafkaConsumer(Options(group) with { EnableAutoCommit = false }))
        {
            consumer.Subscribe([topic]);
            await foreach (ConsumeBatch batch in consumer.ConsumeBatchesAsync(Ct))
            {
                foreach (ConsumedRecord r in batch)
                {
                    first.Add(Encoding.UTF8.GetString(r.Value));
                }

                if (first.Count >= 200)
                {
                    break;
                }
            }

            await consumer.CommitAsync(Ct);
            IReadOnlyList<TopicPartitionOffset> committed = await consumer.CommittedAsync([new TopicPartition(topic, 0), new TopicPartition(topic, 1)], Ct);
            Assert.Equal(200, committed.Sum(c => c.Offset));
        }

        Assert.Equal(200, first.Count);
        await using (var producer = new KafkaProducer(new ProducerOptions { BootstrapServers = broker.Bootstrap }))
        {
            await producer.ProduceAsync(topic, new ProducerRecord(null, Encoding.UTF8.GetBytes("after")), Ct);
        }

        await using var again = new KafkaConsumer(Options(group));
        again.Subscribe([topic]);
        List<ConsumeRecord> read = await ReadAsync(again, 1);
        Assert.Equal("after", Encoding.UTF8.GetString(Assert.Single(read).Value!));
    }

    [Fact]
    public async Task Auto_commit_commits_what_was_consumed_and_the_assignment_events_fire()
    {
        string topic = await TopicAsync(2);
        await using (var producer = new KafkaProducer(new ProducerOptions { BootstrapServers = broker.Bootstrap }))
        {
            var records = new List<ProducerRecord>();
            for (int i = 0; i < 100; i++)
            {
                records.Add(new ProducerRecord(Encoding.UTF8.GetBytes("k" + i), Encoding.UTF8.GetBytes("v" + i)));
            }

            await producer.ProduceBatchAsync(topic, records, Ct);
        }

        string group = "g-" + Guid.NewGuid().ToString("N");
        var assigned = new List<TopicPartition>();
        var revoked = new List<TopicPartition>();
        var consumer = new KafkaConsumer(Options(group) with { AutoCommitInterval = TimeSpan.FromMilliseconds(200) });
        consumer.PartitionsAssigned += (_, e) => { lock (assigned) { assigned.AddRange(e.Partitions); } };
        consumer.PartitionsRevoked += (_, e) => { lock (revoked) { revoked.AddRange(e.Partitions); } };
        consumer.Subscribe([topic]);
        Assert.Equal(100, (await ReadAsync(consumer, 100)).Count);
        Assert.Empty(await ReadAsync(consumer, 1, TimeSpan.FromSeconds(1))); // waiting: the auto-commit interval passes

        await using (var admin = new AdminClient(new AdminOptions { BootstrapServers = broker.Bootstrap }))
        {
            IReadOnlyList<TopicPartitionOffset> committed = await admin.ListGroupOffsetsAsync(group, cancellationToken: Ct);
            Assert.Equal(100, committed.Sum(o => o.Offset));
        }

        Assert.Equal(2, assigned.Count);
        await consumer.DisposeAsync();
        Assert.Equal(assigned.OrderBy(p => p.Partition), revoked.OrderBy(p => p.Partition));
    }

    [Theory]
    [InlineData(PartitionAssignmentStrategy.Range, GroupProtocol.Classic)]
    [InlineData(PartitionAssignmentStrategy.RoundRobin, GroupProtocol.Classic)]
    [InlineData(PartitionAssignmentStrategy.CooperativeSticky, GroupProtocol.Classic)]
    [InlineData(PartitionAssignmentStrategy.Range, GroupProtocol.Consumer)]
    public async Task Three_members_share_six_partitions_and_a_leaving_member_hands_over(PartitionAssignmentStrategy strategy, GroupProtocol protocol)
    {
        string topic = await TopicAsync(6);
        string group = "g-" + Guid.NewGuid().ToString("N");
        ConsumerOptions options = Options(group) with
        {
            GroupProtocol = protocol,
            PartitionAssignmentStrategies = [strategy],
            SessionTimeout = TimeSpan.FromSeconds(6),
            HeartbeatInterval = TimeSpan.FromMilliseconds(300),
        };
        var consumers = new List<KafkaConsumer> { new(options), new(options), new(options) };
        try
        {
            foreach (KafkaConsumer c in consumers)
            {
                c.Subscribe([topic]);
            }

            await UntilAsync(() => Exclusive(consumers, 6) && consumers.All(c => c.Assignment.Count == 2));

            await consumers[2].DisposeAsync();
            consumers.RemoveAt(2);
            await UntilAsync(() => Exclusive(consumers, 6));
            Assert.All(consumers, c => Assert.Equal(3, c.Assignment.Count));
        }
        finally
        {
            foreach (KafkaConsumer c in consumers)
            {
                await c.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Our_consumer_and_a_Confluent_consumer_share_one_classic_group()
    {
        string topic = await TopicAsync(4);
        string group = "g-" + Guid.NewGuid().ToString("N");
        await using var ours = new KafkaConsumer(Options(group) with { PartitionAssignmentStrategies = [PartitionAssignmentStrategy.Range], HeartbeatInterval = TimeSpan.FromMilliseconds(300) });
        using IConsumer<Ignore, byte[]> theirs = new ConsumerBuilder<Ignore, byte[]>(new ConsumerConfig
        {
            BootstrapServers = broker.Bootstrap,
            GroupId = group,
            PartitionAssignmentStrategy = Confluent.Kafka.PartitionAssignmentStrategy.Range,
            AutoOffsetReset = Confluent.Kafka.AutoOffsetReset.Earliest,
            HeartbeatIntervalMs = 300,
        }).SetLogHandler((_, _) => { }).Build();
        ours.Subscribe([topic]);
        theirs.Subscribe(topic);
        DateTime deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !(ours.Assignment.Count == 2 && theirs.Assignment.Count == 2))
        {
            theirs.Consume(TimeSpan.FromMilliseconds(100));
        }

        Assert.Equal(2, ours.Assignment.Count);
        Assert.Equal(2, theirs.Assignment.Count);
        Assert.Empty(ours.Assignment.Select(p => p.Partition).Intersect(theirs.Assignment.Select(p => p.Partition.Value)));
        theirs.Close();
    }

    private static bool Exclusive(List<KafkaConsumer> consumers, int partitions)
    {
        List<TopicPartition> owned = [.. consumers.SelectMany(c => c.Assignment)];
        return owned.Count == partitions && owned.Distinct().Count() == partitions;
    }

    private static async Task UntilAsync(Func<bool> condition)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, Ct);
        }

        Assert.True(condition(), "the condition was not reached in 30 s");
    }
}
