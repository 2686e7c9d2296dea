using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using LogBroker.Client.Consumer;
using LogBroker.Client.Producer;

/// <summary>
/// LogBroker.Client against Confluent.Kafka on the same broker process, in the same run: produce 100 B and
/// 1 KiB records with acks=1 and acks=all, then consume them. Reports records/s, MB/s, this process's CPU
/// time (the client's; the broker is another process) and managed bytes allocated per record. Confluent's
/// native (librdkafka) allocations are not visible to the GC and so are not in its figure.
/// </summary>
internal static class ClientComparison
{
    public static async Task RunAsync(Broker broker, int records)
    {
        foreach (int size in (int[])[100, 1024])
        {
            int count = size == 100 ? records : Math.Max(1, records / 5);
            foreach (bool all in (bool[])[false, true])
            {
                string acks = all ? "all" : "1";
                for (int round = 0; round < 3; round++)
                {
                    // Alternate the order so neither client always runs on a warmer broker.
                    bool oursFirst = round == 0;
                    for (int k = 0; k < 2; k++)
                    {
                        bool ours = (k == 0) == oursFirst;
                        string topic = await CreateTopicAsync(broker, $"cmp-{size}-{acks}-{(ours ? "ours" : "confluent")}-{round}");
                        Measure m = ours ? await ProduceOursAsync(broker, topic, count, size, all) : ProduceConfluent(broker, topic, count, size, all);
                        Print($"produce {size} B acks={acks} {(ours ? "LogBroker.Client" : "Confluent.Kafka ")} (round {round + 1})", m, count, size);
                        if (!all)
                        {
                            Measure c = ours ? await ConsumeOursAsync(broker, topic, count, perRecord: false) : ConsumeConfluent(broker, topic, count);
                            Print($"consume {size} B        {(ours ? "LogBroker.Client" : "Confluent.Kafka ")} (round {round + 1})", c, count, size);
                            if (ours)
                            {
                                c = await ConsumeOursAsync(broker, topic, count, perRecord: true);
                                Print($"consume {size} B        LogBroker.Client per-record ConsumeAsync (round {round + 1})", c, count, size);
                            }
                        }
                    }

                    string single = await CreateTopicAsync(broker, $"cmp-{size}-{acks}-single-{round}");
                    Measure one = await ProducePerRecordAsync(broker, single, count, size, all);
                    Print($"produce {size} B acks={acks} LogBroker.Client per-record ProduceAsync (round {round + 1})", one, count, size);
                }
            }
        }
    }

    private static async Task<string> CreateTopicAsync(Broker broker, string name)
    {
        await using var admin = new LogBroker.Client.Admin.AdminClient(new LogBroker.Client.Admin.AdminOptions { BootstrapServers = broker.Bootstrap });
        await admin.CreateTopicsAsync([new LogBroker.Client.Admin.NewTopic(name, 1)]);
        return name;
    }

    private static void Print(string name, Measure m, int count, int size)
    {
        double s = m.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: {count / s:F0} records/s, {(double)count * size / s / 1e6:F1} MB/s, client CPU {m.Cpu.TotalSeconds:F2} s ({m.Cpu.TotalMilliseconds * 1000 / count:F3} µs/record), managed alloc {(double)m.Allocated / count:F1} B/record"));
    }

    private static Measure Start() => new(TimeSpan.Zero, Process.GetCurrentProcess().TotalProcessorTime, GC.GetTotalAllocatedBytes(precise: true));

    private static Measure Stop(Measure start, Stopwatch clock) =>
        new(clock.Elapsed, Process.GetCurrentProcess().TotalProcessorTime - start.Cpu, GC.GetTotalAllocatedBytes(precise: true) - start.Allocated);

    private static async Task<Measure> ProduceOursAsync(Broker broker, string topic, int count, int size, bool all)
    {
        byte[] value = new byte[size];
        new Random(1).NextBytes(value);
        const int Chunk = 10_000;
        var chunk = new ProducerRecord[Chunk];
        Array.Fill(chunk, new ProducerRecord(null, value));
        await using var producer = new KafkaProducer(new ProducerOptions
        {
            BootstrapServers = broker.Bootstrap,
            Acks = all ? LogBroker.Client.Producer.Acks.All : LogBroker.Client.Producer.Acks.Leader,
            EnableIdempotence = all,
            Linger = TimeSpan.FromMilliseconds(5),
            BufferMemory = 256L * 1024 * 1024,
        });
        await producer.ProduceBatchAsync(topic, new ArraySegment<ProducerRecord>(chunk, 0, 1)); // metadata and producer id
        Measure start = Start();
        var clock = Stopwatch.StartNew();
        var inFlight = new Queue<Task>();
        for (int sent = 0; sent < count; sent += Chunk)
        {
            int n = Math.Min(Chunk, count - sent);
            inFlight.Enqueue(producer.ProduceBatchAsync(topic, n == Chunk ? chunk : new ArraySegment<ProducerRecord>(chunk, 0, n)).AsTask());
            if (inFlight.Count > 16)
            {
                await inFlight.Dequeue();
            }
        }

        while (inFlight.Count > 0)
        {
            await inFlight.Dequeue();
        }

        return Stop(start, clock);
    }

    private static async Task<Measure> ProducePerRecordAsync(Broker broker, string topic, int count, int size, bool all)
    {
        byte[] value = new byte[size];
        new Random(1).NextBytes(value);
        await using var producer = new KafkaProducer(new ProducerOptions
        {
            BootstrapServers = broker.Bootstrap,
            Acks = all ? LogBroker.Client.Producer.Acks.All : LogBroker.Client.Producer.Acks.Leader,
            EnableIdempotence = all,
            Linger = TimeSpan.FromMilliseconds(5),
            BufferMemory = 256L * 1024 * 1024,
        });
        var record = new ProducerRecord(null, value);
        await producer.ProduceAsync(topic, record);
        Measure start = Start();
        var clock = Stopwatch.StartNew();
        var window = new Queue<ValueTask<DeliveryResult>>();
        for (int i = 0; i < count; i++)
        {
#pragma warning disable CA2012 // each ValueTask is awaited exactly once, in order, from the window
            window.Enqueue(producer.ProduceAsync(topic, record));
#pragma warning restore CA2012
            if (window.Count >= 100_000)
            {
                await window.Dequeue();
            }
        }

        while (window.Count > 0)
        {
            await window.Dequeue();
        }

        return Stop(start, clock);
    }

    private static Measure ProduceConfluent(Broker broker, string topic, int count, int size, bool all)
    {
        byte[] value = new byte[size];
        new Random(1).NextBytes(value);
        ProducerConfig config = ConfluentSender.ThroughputConfig(broker.Bootstrap, all ? Confluent.Kafka.Acks.All : Confluent.Kafka.Acks.Leader, lingerMs: 5);
        config.EnableIdempotence = all;
        using IProducer<Null, byte[]> producer = new ProducerBuilder<Null, byte[]>(config).Build();
        var sender = new ConfluentSender(producer);
        var message = new Message<Null, byte[]> { Value = value };
        sender.Send(topic, message, 1); // connected and the producer id fetched before the clock starts
        producer.Flush(TimeSpan.FromSeconds(30));
        Measure start = Start();
        var clock = Stopwatch.StartNew();
        sender.Send(topic, message, count);
        sender.FlushOrThrow(TimeSpan.FromMinutes(5));
        return Stop(start, clock);
    }

    private static async Task<Measure> ConsumeOursAsync(Broker broker, string topic, int count, bool perRecord)
    {
        await using var consumer = new KafkaConsumer(new ConsumerOptions
        {
            BootstrapServers = broker.Bootstrap,
            FetchMaxBytes = 64 * 1024 * 1024,
            MaxPartitionFetchBytes = 16 * 1024 * 1024,
            QueuedMaxBytes = 512L * 1024 * 1024,
        });
        consumer.Assign([new LogBroker.Client.TopicPartitionOffset(topic, 0, Offsets.Beginning)]);
        Measure start = Start();
        var clock = Stopwatch.StartNew();
        long seen = 0;
        long bytes = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        if (perRecord)
        {
            await foreach (ConsumeRecord r in consumer.ConsumeAsync(timeout.Token))
            {
                seen++;
                bytes += r.Value!.Length;
                if (seen == count + 1)
                {
                    break;
                }
            }
        }

        while (seen < count + 1)
        {
            ConsumeBatch? batch = await consumer.NextBatchAsync(timeout.Token);
            if (batch is null)
            {
                break;
            }

            foreach (ConsumedRecord r in batch)
            {
                seen++;
                bytes += r.Value.Length;
            }
        }

        if (seen != count + 1)
        {
            throw new InvalidOperationException($"consumed {seen} of {count + 1}");
        }

        return Stop(start, clock);
    }

    private static Measure ConsumeConfluent(Broker broker, string topic, int count)
    {
        using IConsumer<Ignore, byte[]> consumer = new ConsumerBuilder<Ignore, byte[]>(new ConsumerConfig
        {
            BootstrapServers = broker.Bootstrap,
            GroupId = "cmp",
            EnableAutoCommit = false,
            FetchMaxBytes = 64 * 1024 * 1024,
            MaxPartitionFetchBytes = 16 * 1024 * 1024,
            QueuedMaxMessagesKbytes = 512 * 1024,
            QueuedMinMessages = 2_000_000,
            FetchQueueBackoffMs = 1,
        }).Build();
        consumer.Assign(new Confluent.Kafka.TopicPartitionOffset(topic, 0, Offset.Beginning));
        Measure start = Start();
        var clock = Stopwatch.StartNew();
        long seen = 0;
        while (seen < count + 1 && clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            ConsumeResult<Ignore, byte[]>? r = consumer.Consume(TimeSpan.FromSeconds(1));
            if (r is { IsPartitionEOF: false })
            {
                seen++;
            }
        }

        if (seen != count + 1)
        {
            throw new InvalidOperationException($"consumed {seen} of {count + 1}");
        }

        return Stop(start, clock);
    }

    private readonly record struct Measure(TimeSpan Elapsed, TimeSpan Cpu, long Allocated);
}
