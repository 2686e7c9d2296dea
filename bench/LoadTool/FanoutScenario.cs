// Issue 15's last goal: the W1 figures (produce N x 100 B acks=1, consume them, latency at 20,000 rec/s,
// the broker's CPU per record and its memory) with one partition written by one producer connection,
// against C partitions written by C producer connections (Confluent.Kafka, one producer per partition,
// default C = 100), in alternating rounds with a fresh broker per round and shape, so the cost per
// partition and per connection reads against the one-partition figure of the same run.
//
//   dotnet bench/LoadTool/bin/Release/net10.0/LogBroker.LoadTool.dll --scenario fanout [--records 1000000] [--rounds 3] [--connections 100] [--latency-seconds 10]
using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.TestKit;

namespace LogBroker.LoadTool;

internal static class FanoutScenario
{
    private const int Block = 1_000; // records handed to one producer before the next one's turn

    public static async Task RunAsync(string dir, int records, int rounds, int connections, int latencySeconds)
    {
        int[] shapes = [1, connections];
        var rows = new List<(string Name, string Unit, List<double> One, List<double> Many)>();
        void Add(string name, string unit, int shape, double value)
        {
            int i = rows.FindIndex(r => r.Name == name);
            if (i < 0)
            {
                rows.Add((name, unit, [], []));
                i = rows.Count - 1;
            }

            (shape == 1 ? rows[i].One : rows[i].Many).Add(value);
        }

        for (int round = 0; round < rounds; round++)
        {
            for (int k = 0; k < 2; k++)
            {
                int shape = shapes[(k + round) % 2];
                string data = $"{dir}-{round}-{shape}";
                try
                {
                    int adminPort = LatencyScenario.FreePort();
                    await using global::Broker broker = await global::Broker.StartAsync(data, $"--Admin:Listener=127.0.0.1:{adminPort}");
                    using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}/"), Timeout = TimeSpan.FromSeconds(30) };
                    await CreateTopicAsync(broker, "warmup", 1);
                    _ = Produce(broker, "warmup", 1, 50_000);
                    _ = Consume(broker, "warmup", 1, 50_000);

                    await CreateTopicAsync(broker, "w1", shape);
                    (double produceRate, double produceCpu, double clientCores) = Produce(broker, "w1", shape, records);
                    (double consumeRate, double consumeCpu) = Consume(broker, "w1", shape, records / shape * shape);
                    await CreateTopicAsync(broker, "lat", shape);
                    (LatencyFigures lat, double clientLatencyCores, double brokerLatencyCores, string produceTime) = await LatencyAsync(broker, http, "lat", latencySeconds, shape, shape);
                    ProcessResources memory = ProcessResources.Of(broker.Pid, data);
                    int threads = Directory.GetDirectories($"/proc/{broker.Pid}/task").Length;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"round {round + 1}, {shape} partition(s) x {shape} connection(s): produce {produceRate:F0} rec/s ({produceCpu:F3} µs broker CPU/rec, client {clientCores:F2} cores), " +
                        $"consume {consumeRate:F0} rec/s ({consumeCpu:F3} µs/rec), latency {lat}, broker Produce time {produceTime}, broker RssAnon {memory.RssAnonKb / 1024} MiB, RssFile {memory.RssFileKb / 1024} MiB, VmHWM {memory.PeakRssKb / 1024} MiB, threads {threads}"));
                    Add($"W1 produce {records} x 100 B acks=1", "k rec/s", shape, produceRate / 1e3);
                    Add("broker CPU per produced record", "µs", shape, produceCpu);
                    Add("W1 consume them (one consumer)", "k rec/s", shape, consumeRate / 1e3);
                    Add("broker CPU per consumed record", "µs", shape, consumeCpu);
                    Add("latency 20k rec/s p50", "ms", shape, lat.P50);
                    Add("latency 20k rec/s p99", "ms", shape, lat.P99);
                    Add("latency 20k rec/s p99.9", "ms", shape, lat.P999);
                    Add("latency run: client cores (both clients)", "cores", shape, clientLatencyCores);
                    Add("latency run: broker cores", "cores", shape, brokerLatencyCores);
                    if (shape > 1)
                    {
                        // The two costs apart: one producer over every partition, and every producer into one partition.
                        await CreateTopicAsync(broker, "lat-partitions", shape);
                        (LatencyFigures byPartitions, double c1, double b1, string t1) = await LatencyAsync(broker, http, "lat-partitions", latencySeconds, 1, shape);
                        await CreateTopicAsync(broker, "lat-connections", 1);
                        (LatencyFigures byConnections, double c2, double b2, string t2) = await LatencyAsync(broker, http, "lat-connections", latencySeconds, shape, 1);
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"round {round + 1}, 1 connection over {shape} partitions: latency {byPartitions}, client {c1:F2} cores, broker {b1:F2} cores, broker Produce time {t1}; {shape} connections into 1 partition: latency {byConnections}, client {c2:F2} cores, broker {b2:F2} cores, broker Produce time {t2}"));
                        Add($"latency p50, 1 connection over {shape} partitions", "ms", shape, byPartitions.P50);
                        Add($"latency p99, 1 connection over {shape} partitions", "ms", shape, byPartitions.P99);
                        Add($"latency p50, {shape} connections into 1 partition", "ms", shape, byConnections.P50);
                        Add($"latency p99, {shape} connections into 1 partition", "ms", shape, byConnections.P99);
                        Add($"latency run, {shape} connections into 1 partition: client cores", "cores", shape, c2);
                    }

                    Add("broker RssAnon after the run", "MiB", shape, memory.RssAnonKb / 1024.0);
                    Add("broker threads after the run", "", shape, threads);
                }
                finally
                {
                    if (Directory.Exists(data))
                    {
                        Directory.Delete(data, recursive: true);
                    }
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{rounds} alternating rounds, a fresh broker per round and shape; median (range)."));
        Console.WriteLine();
        Console.WriteLine($"| figure | unit | 1 partition, 1 connection | {connections} partitions, {connections} connections | {connections} / 1 (medians) |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach ((string name, string unit, List<double> one, List<double> many) in rows)
        {
            string ratio = one.Count == 0 ? "—" : string.Create(CultureInfo.InvariantCulture, $"{RoundStats.Median(many) / RoundStats.Median(one):F2}×");
            Console.WriteLine($"| {name} | {unit} | {RoundStats.Cell(one)} | {RoundStats.Cell(many)} | {ratio} |");
        }
    }

    // 20,000 rec/s of 100 B, acks=1, through `producers` connections into `partitions` partitions; with the CPU
    // both sides used meanwhile (this tool runs both clients), in cores, set-up included, and the broker's own Produce
    // request time from its /metrics histogram.
    private static async Task<(LatencyFigures Figures, double ClientCores, double BrokerCores, string ProduceTime)> LatencyAsync(
        global::Broker broker, HttpClient http, string topic, int seconds, int producers, int partitions)
    {
        string metricsBefore = await LatencyScenario.ScrapeAsync(http);
        TimeSpan clientBefore = Process.GetCurrentProcess().TotalProcessorTime;
        TimeSpan brokerBefore = broker.CpuTime;
        var clock = Stopwatch.StartNew();
        LatencyFigures figures = LatencyScenario.Measure(broker, topic, 20_000, seconds, Acks.Leader, 100, quiet: true, producers: producers, partitions: partitions);
        double elapsed = clock.Elapsed.TotalSeconds;
        double clientCores = (Process.GetCurrentProcess().TotalProcessorTime - clientBefore).TotalSeconds / elapsed;
        double brokerCores = (broker.CpuTime - brokerBefore).TotalSeconds / elapsed;
        return (figures, clientCores, brokerCores, LatencyScenario.ProduceTime(metricsBefore, await LatencyScenario.ScrapeAsync(http)));
    }

    // One producer (its own connection) per partition; records handed out round-robin in blocks, then every
    // producer flushed. Each producer sends one record and is flushed before the clock starts (metadata, connection).
    private static (double Rate, double BrokerUsPerRecord, double ClientCores) Produce(global::Broker broker, string topic, int partitions, int records)
    {
        int per = records / partitions;
        byte[] value = new byte[100];
        new Random(1).NextBytes(value);
        var message = new Message<Null, byte[]> { Value = value };
        var producers = new IProducer<Null, byte[]>[partitions];
        var senders = new ConfluentSender[partitions];
        var targets = new TopicPartition[partitions];
        try
        {
            for (int p = 0; p < partitions; p++)
            {
                ProducerConfig config = ConfluentSender.ThroughputConfig(broker.Bootstrap, Acks.Leader, lingerMs: 5);
                config.QueueBufferingMaxKbytes = Math.Max(16 * 1024, config.QueueBufferingMaxKbytes!.Value / partitions);
                producers[p] = new ProducerBuilder<Null, byte[]>(config).Build();
                senders[p] = new ConfluentSender(producers[p]);
                targets[p] = new TopicPartition(topic, p);
                senders[p].Send(targets[p], message, 1);
            }

            foreach (ConfluentSender sender in senders)
            {
                sender.FlushOrThrow(TimeSpan.FromMinutes(1));
            }

            TimeSpan clientBefore = Process.GetCurrentProcess().TotalProcessorTime;
            TimeSpan brokerBefore = broker.CpuTime;
            var clock = Stopwatch.StartNew();
            for (int sent = 0; sent < per; sent += Block)
            {
                for (int p = 0; p < partitions; p++)
                {
                    senders[p].Send(targets[p], message, Math.Min(Block, per - sent));
                }
            }

            foreach (ConfluentSender sender in senders)
            {
                sender.FlushOrThrow(TimeSpan.FromMinutes(5));
            }

            double seconds = clock.Elapsed.TotalSeconds;
            int total = per * partitions;
            return (total / seconds, (broker.CpuTime - brokerBefore).TotalMicroseconds / total,
                (Process.GetCurrentProcess().TotalProcessorTime - clientBefore).TotalSeconds / seconds);
        }
        finally
        {
            foreach (IProducer<Null, byte[]>? producer in producers)
            {
                producer?.Dispose();
            }
        }
    }

    // One consumer assigned every partition from the start; counts the records after the primed one of each partition.
    private static (double Rate, double BrokerUsPerRecord) Consume(global::Broker broker, string topic, int partitions, int records)
    {
        using IConsumer<Ignore, byte[]> consumer = new ConsumerBuilder<Ignore, byte[]>(ConfluentSender.ThroughputConsumerConfig(broker.Bootstrap, "fanout")).Build();
        var assignment = new List<TopicPartitionOffset>(partitions);
        for (int p = 0; p < partitions; p++)
        {
            assignment.Add(new TopicPartitionOffset(topic, p, Offset.Beginning));
        }

        consumer.Assign(assignment);
        int expected = records + (topic == "warmup" ? 0 : partitions);
        TimeSpan brokerBefore = broker.CpuTime;
        var clock = Stopwatch.StartNew();
        _ = ConfluentSender.ReadOrThrow(consumer, expected);
        double seconds = clock.Elapsed.TotalSeconds;
        return (expected / seconds, (broker.CpuTime - brokerBefore).TotalMicroseconds / expected);
    }

    private static async Task CreateTopicAsync(global::Broker broker, string name, int partitions)
    {
        using IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.Bootstrap }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = name, NumPartitions = partitions, ReplicationFactor = 1 }]);
    }
}
