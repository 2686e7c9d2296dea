using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using HdrHistogram;

/// <summary>
/// End-to-end latency at a fixed rate (issue 15): Confluent.Kafka producer (linger 0) to a consumer with
/// <c>fetch.wait.max.ms</c> 100, against a loopback TCP socket between two threads measured by the same
/// pacing and histogram, in alternating rounds, so the broker's tail can be read against what the machine
/// itself gives that minute.
/// </summary>
/// <remarks>
/// <c>LOADTOOL_SLOW_FILE=PATH</c> writes every record slower than <c>LOADTOOL_SLOW_MS</c> (default 2) with its
/// send and receive times on CLOCK_MONOTONIC (what <see cref="Stopwatch"/> reads on Linux, and what
/// <c>perf record -k CLOCK_MONOTONIC</c> stamps), so slow records can be laid over a scheduler trace.
/// </remarks>
internal static class LatencyScenario
{
    public static async Task RunAsync(string dir, int rounds, int seconds, Acks acks, int size, int rate)
    {
        var ours = new List<LatencyFigures>();
        var loop = new List<LatencyFigures>();
        var cpu = new List<double>();
        for (int round = 0; round < rounds; round++)
        {
            for (int k = 0; k < 2; k++)
            {
                bool broker = (k == 0) == (round % 2 == 0);
                if (!broker)
                {
                    LatencyFigures l = Loopback(rate, seconds, size);
                    Console.WriteLine($"round {round + 1} loopback: {l}");
                    loop.Add(l);
                    continue;
                }

                int adminPort = FreePort();
                await using Broker b = await Broker.StartAsync($"{dir}-{round}", $"--Admin:Listener=127.0.0.1:{adminPort}");
                Console.WriteLine($"# broker pid {b.Pid}");
                using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}/"), Timeout = TimeSpan.FromSeconds(30) };
                string topic = await CreateTopicAsync(b, "lat");
                WarmUp(b, topic, acks);
                TimeSpan before = b.CpuTime;
                string metricsBefore = await ScrapeAsync(http);
                TimeSpan toolGcBefore = GC.GetTotalPauseDuration();
                int toolGcCountBefore = GC.CollectionCount(0);
                LatencyFigures f = Measure(b, topic, rate, seconds, acks, size);
                TimeSpan toolGc = GC.GetTotalPauseDuration() - toolGcBefore;
                int toolGcCount = GC.CollectionCount(0) - toolGcCountBefore;
                double cpuUs = (b.CpuTime - before).TotalMilliseconds * 1000 / f.Expected;
                string metricsAfter = await ScrapeAsync(http);
                double Delta(string metric) => Sum(metricsAfter, metric) - Sum(metricsBefore, metric);
                string server = "broker produce time " + Quantiles(Buckets(metricsBefore, "logbroker_request_duration_seconds_bucket{", "\"Produce\""), Buckets(metricsAfter, "logbroker_request_duration_seconds_bucket{", "\"Produce\""))
                    + "; fsync " + Quantiles(Buckets(metricsBefore, "logbroker_fsync_duration_seconds_bucket{", ""), Buckets(metricsAfter, "logbroker_fsync_duration_seconds_bucket{", ""))
                    + string.Create(CultureInfo.InvariantCulture,
                        $"; GC: broker {Delta("dotnet_gc_collections_total"):F0} collections, {Delta("dotnet_gc_pause_time_seconds_total") * 1000:F1} ms paused, {Delta("dotnet_gc_heap_total_allocated_bytes_total") / f.Expected:F0} B allocated per record; this tool (both clients) {toolGcCount} collections, {toolGc.TotalMilliseconds:F1} ms paused");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round + 1} LogBroker acks={Name(acks)}: {f}, broker CPU {cpuUs:F2} µs/record; {server}"));
                ours.Add(f);
                cpu.Add(cpuUs);
                b.PrintMemory();
            }
        }

        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{rounds} alternating rounds, {rate} rec/s for {seconds} s, {size} B, acks={Name(acks)}: median (range), ms"));
        Console.WriteLine();
        Console.WriteLine("| path | p50 | p99 | p99.9 | max |");
        Console.WriteLine("|---|---|---|---|---|");
        Console.WriteLine($"| loopback socket, two threads | {Cell(loop, f => f.P50)} | {Cell(loop, f => f.P99)} | {Cell(loop, f => f.P999)} | {Cell(loop, f => f.Max)} |");
        Console.WriteLine($"| LogBroker, Confluent producer → consumer, acks={Name(acks)} | {Cell(ours, f => f.P50)} | {Cell(ours, f => f.P99)} | {Cell(ours, f => f.P999)} | {Cell(ours, f => f.Max)} |");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"broker CPU per record: {RoundStats.Median(cpu):F2} µs ({cpu.Min():F2}–{cpu.Max():F2})"));
    }

    private static string Name(Acks acks) => acks == Acks.All ? "all" : "1";

    private static string Cell(List<LatencyFigures> runs, Func<LatencyFigures, double> pick)
    {
        var v = new List<double>(runs.Count);
        foreach (LatencyFigures r in runs)
        {
            v.Add(pick(r));
        }

        return v.Count == 0 ? "—" : string.Create(CultureInfo.InvariantCulture, $"{RoundStats.Median(v):G3} ({v.Min():G3}–{v.Max():G3})");
    }

    internal static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    /// <summary>The broker's /metrics text, read once before and once after a measured run.</summary>
    internal static Task<string> ScrapeAsync(HttpClient http) => http.GetStringAsync(new Uri("metrics", UriKind.Relative));

    /// <summary>
    /// One of the broker's own histograms in a /metrics text (<c>logbroker.request.duration</c> of Produce: dispatch
    /// until the response is ready, fsync included for acks=all; <c>logbroker.fsync.duration</c>), as cumulative
    /// bucket counts by upper bound, summed over the lines that contain <paramref name="filter"/>.
    /// </summary>
    private static Dictionary<string, double> Buckets(string text, string metric, string filter)
    {
        var buckets = new Dictionary<string, double>();
        foreach (string line in text.Split('\n'))
        {
            if (!line.StartsWith(metric, StringComparison.Ordinal) || !line.Contains(filter, StringComparison.Ordinal))
            {
                continue;
            }

            int le = line.IndexOf("le=\"", StringComparison.Ordinal) + 4;
            string bound = line[le..line.IndexOf('"', le)];
            buckets[bound] = buckets.GetValueOrDefault(bound) + SampleValue(line, metric);
        }

        return buckets;
    }

    /// <summary>The broker's own Produce request time (dispatch until the response is ready) between two /metrics texts.</summary>
    internal static string ProduceTime(string before, string after) =>
        Quantiles(Buckets(before, "logbroker_request_duration_seconds_bucket{", "\"Produce\""), Buckets(after, "logbroker_request_duration_seconds_bucket{", "\"Produce\""));

    /// <summary>The sum of a counter's series in a /metrics text (all its label sets).</summary>
    private static double Sum(string text, string metric)
    {
        double sum = 0;
        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith(metric, StringComparison.Ordinal) && line.Length > metric.Length && line[metric.Length] is '{' or ' ')
            {
                sum += SampleValue(line, metric);
            }
        }

        return sum;
    }

    // The value of a sample line: the first token after its labels (or after its name when it has none).
    private static double SampleValue(string line, string metric)
    {
        int labelsEnd = line.LastIndexOf('}');
        string rest = line[(labelsEnd >= 0 ? labelsEnd + 1 : metric.Length)..].Trim();
        return double.Parse(rest.Split(' ')[0], CultureInfo.InvariantCulture);
    }

    // The bucket bounds under which 50%, 99% and 99.9% of the run's samples fall.
    private static string Quantiles(Dictionary<string, double> before, Dictionary<string, double> after)
    {
        var rows = new List<(double Bound, double Count)>();
        foreach (var (bound, count) in after)
        {
            rows.Add((bound == "+Inf" ? double.PositiveInfinity : double.Parse(bound, CultureInfo.InvariantCulture), count - before.GetValueOrDefault(bound)));
        }

        rows.Sort((a, b) => a.Bound.CompareTo(b.Bound));
        if (rows.Count == 0 || rows[^1].Count <= 0)
        {
            return "none";
        }

        double total = rows[^1].Count;
        string At(double q)
        {
            foreach (var (bound, count) in rows)
            {
                if (count >= q * total)
                {
                    return double.IsInfinity(bound) ? "> last bucket" : string.Create(CultureInfo.InvariantCulture, $"≤ {bound * 1000:G3} ms");
                }
            }

            return "?";
        }

        return string.Create(CultureInfo.InvariantCulture, $"({total:F0}): p50 {At(0.5)}, p99 {At(0.99)}, p99.9 {At(0.999)}");
    }

    private static async Task<string> CreateTopicAsync(Broker broker, string name)
    {
        using IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.Bootstrap }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = name, NumPartitions = 1, ReplicationFactor = 1 }]);
        return name;
    }

    // Six seconds at the rate before the clock starts: with two, a perf profile found the broker's tiered-compilation
    // thread still busy (18-30% of the broker's samples) in the measured seconds.
    private static void WarmUp(Broker broker, string topic, Acks acks) => _ = Measure(broker, topic, 20_000, 6, acks, 100, quiet: true);

    /// <summary>
    /// The broker path: producer linger 0, consumer fetch.wait.max.ms 100. Record i goes through producer
    /// i mod <paramref name="producers"/> (each its own connection) to partition i mod <paramref name="partitions"/>,
    /// and one consumer reads every partition.
    /// </summary>
    public static LatencyFigures Measure(Broker broker, string topic, int rate, int seconds, Acks acks, int size, bool quiet = false, int producers = 1, int partitions = 1)
    {
        var clients = new IProducer<Null, byte[]>[producers];
        for (int p = 0; p < producers; p++)
        {
            clients[p] = new ProducerBuilder<Null, byte[]>(new ProducerConfig
            {
                BootstrapServers = broker.Bootstrap,
                Acks = acks,
                LingerMs = 0,
                // librdkafka leaves Nagle on by default; LOADTOOL_NAGLE_DISABLE=1 turns it off on both clients.
                SocketNagleDisable = Environment.GetEnvironmentVariable("LOADTOOL_NAGLE_DISABLE") == "1",
            }).Build();
        }

        try
        {
            return Measure(broker, topic, rate, seconds, size, quiet, clients, partitions);
        }
        finally
        {
            foreach (IProducer<Null, byte[]> client in clients)
            {
                client.Dispose();
            }
        }
    }

    private static LatencyFigures Measure(Broker broker, string topic, int rate, int seconds, int size, bool quiet, IProducer<Null, byte[]>[] producers, int partitions)
    {
        using IConsumer<Ignore, byte[]> consumer = new ConsumerBuilder<Ignore, byte[]>(new ConsumerConfig
        {
            BootstrapServers = broker.Bootstrap,
            GroupId = "latency",
            FetchWaitMaxMs = 100,
            FetchMinBytes = 1,
            SocketNagleDisable = Environment.GetEnvironmentVariable("LOADTOOL_NAGLE_DISABLE") == "1",
        }).Build();
        var targets = new TopicPartition[partitions];
        for (int p = 0; p < partitions; p++)
        {
            targets[p] = new TopicPartition(topic, p);
        }

        // Every producer sends one record first, so its metadata and connection are not billed to the measured records.
        for (int p = 0; p < producers.Length; p++)
        {
            producers[p].Produce(targets[p % partitions], new Message<Null, byte[]> { Value = new byte[Math.Max(size, 12)] });
        }

        foreach (IProducer<Null, byte[]> producer in producers)
        {
            producer.Flush(TimeSpan.FromSeconds(30));
        }

        // Each partition's end read now, past those records, not Offset.End: an end resolved after the first measured
        // records arrive would skip them (with 100 partitions and Offset.End, one run read 199,994 of 200,000).
        var assignment = new List<TopicPartitionOffset>(partitions);
        foreach (TopicPartition target in targets)
        {
            assignment.Add(new TopicPartitionOffset(target, consumer.QueryWatermarkOffsets(target, TimeSpan.FromSeconds(10)).High));
        }

        consumer.Assign(assignment);
        _ = consumer.Consume(TimeSpan.FromMilliseconds(500)); // connected and positioned before the clock starts

        int total = rate * seconds;
        var sentAt = new long[total];
        var gotAt = new long[total];
        var offsets = new long[total];
        var histogram = new LongHistogram(TimeStamp.Seconds(10), 3);
        var received = new CountdownEvent(total);
        var reader = new Thread(() =>
        {
            var deadline = Stopwatch.StartNew();
            while (!received.IsSet && deadline.Elapsed < TimeSpan.FromSeconds(seconds + 30))
            {
                ConsumeResult<Ignore, byte[]>? r = consumer.Consume(TimeSpan.FromMilliseconds(100));
                if (r is { IsPartitionEOF: false })
                {
                    long now = Stopwatch.GetTimestamp();
                    int seq = BitConverter.ToInt32(r.Message.Value, 8);
                    long sent = BitConverter.ToInt64(r.Message.Value);
                    histogram.RecordValue(now - sent);
                    if ((uint)seq < (uint)total && gotAt[seq] == 0)
                    {
                        gotAt[seq] = now;
                        offsets[seq] = r.Offset.Value;
                        received.Signal();
                    }
                }
            }
        });
        reader.Start();

        byte[] value = new byte[Math.Max(size, 12)];
        Pace(rate, total, i =>
        {
            long now = Stopwatch.GetTimestamp();
            sentAt[i] = now;
            BitConverter.TryWriteBytes(value, now);
            BitConverter.TryWriteBytes(value.AsSpan(8), i);
            producers[i % producers.Length].Produce(targets[i % partitions], new Message<Null, byte[]> { Value = (byte[])value.Clone() });
        });

        foreach (IProducer<Null, byte[]> producer in producers)
        {
            producer.Flush(TimeSpan.FromSeconds(30));
        }

        reader.Join();
        LatencyFigures figures = LatencyFigures.From(histogram, total);
        if (!quiet)
        {
            WriteSlow(sentAt, gotAt, offsets);
        }

        return figures;
    }

    /// <summary>The floor: the same pacing and histogram over one loopback TCP connection (NoDelay) between two threads.</summary>
    public static LatencyFigures Loopback(int rate, int seconds, int size)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Connect(listener.LocalEndPoint!);
        using Socket server = listener.Accept();
        server.NoDelay = true;

        int total = rate * seconds;
        int frame = Math.Max(size, 8);
        var histogram = new LongHistogram(TimeStamp.Seconds(10), 3);
        var reader = new Thread(() =>
        {
            byte[] buffer = new byte[frame];
            for (int n = 0; n < total; n++)
            {
                int got = 0;
                while (got < frame)
                {
                    int r = server.Receive(buffer, got, frame - got, SocketFlags.None);
                    if (r == 0)
                    {
                        return;
                    }

                    got += r;
                }

                histogram.RecordValue(Stopwatch.GetTimestamp() - BitConverter.ToInt64(buffer));
            }
        });
        reader.Start();
        byte[] value = new byte[frame];
        Pace(rate, total, _ =>
        {
            BitConverter.TryWriteBytes(value, Stopwatch.GetTimestamp());
            client.Send(value);
        });

        if (!reader.Join(TimeSpan.FromSeconds(30)))
        {
            client.Close(); // unblocks the reader
            reader.Join();
        }

        return LatencyFigures.From(histogram, total);
    }

    // Open-loop pacing: message i is due at i / rate seconds. Sleep (~1 ms) while nothing is due and send
    // what is due in a burst, so pacing does not burn one of the two cores spinning.
    private static void Pace(int rate, int total, Action<int> send)
    {
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < total; i++)
        {
            long due = (long)(i * (double)Stopwatch.Frequency / rate);
            while (clock.ElapsedTicks < due)
            {
                Thread.Sleep(1);
            }

            send(i);
        }
    }

    private static void WriteSlow(long[] sentAt, long[] gotAt, long[] offsets)
    {
        if (Environment.GetEnvironmentVariable("LOADTOOL_SLOW_FILE") is not { Length: > 0 } path)
        {
            return;
        }

        double thresholdMs = double.TryParse(Environment.GetEnvironmentVariable("LOADTOOL_SLOW_MS"), CultureInfo.InvariantCulture, out double t) ? t : 2;
        long threshold = (long)(thresholdMs * Stopwatch.Frequency / 1000);
        using var w = new StreamWriter(path, append: true);
        w.WriteLine($"# seq sent_monotonic_s received_monotonic_s latency_ms offset (Stopwatch frequency {Stopwatch.Frequency})");
        for (int i = 0; i < sentAt.Length; i++)
        {
            if (gotAt[i] != 0 && gotAt[i] - sentAt[i] >= threshold)
            {
                w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{i} {(double)sentAt[i] / Stopwatch.Frequency:F6} {(double)gotAt[i] / Stopwatch.Frequency:F6} {(gotAt[i] - sentAt[i]) * 1000.0 / Stopwatch.Frequency:F3} {offsets[i]}"));
            }
        }
    }
}
