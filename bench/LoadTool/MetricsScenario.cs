using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using LogBroker.Client.Admin;
using LogBroker.Client.Consumer;
using LogBroker.Client.Producer;

namespace LogBroker.LoadTool;

/// <summary>
/// <c>--scenario metrics</c>: what the metrics cost, and how fast the console's API answers with many topics.
/// Two broker processes at once, one with metrics on (scraped every second at /metrics, as a busy
/// Prometheus would) and one with <c>Metrics:Enabled=false</c>; W1 (LogBroker.Client batch produce of
/// 100 B records, acks=1, one partition, then the same records consumed from the beginning with the
/// batch consumer) runs against each in alternating order for ten rounds. Then
/// 1,000 topics are created on the metrics-on broker and the console's API calls are timed.
/// </summary>
internal static class MetricsScenario
{
    private const int Rounds = 10;

    public static async Task RunAsync(string data, int records, int scrapeMs, bool sameSettings = false, string onSetting = "")
    {
        int onAdmin = FreePort();
        int offAdmin = FreePort();
        await using global::Broker on = onSetting.Length == 0
            ? await global::Broker.StartAsync(data + "-on", $"--Admin:Listener=127.0.0.1:{onAdmin}")
            : await global::Broker.StartAsync(data + "-on", $"--Admin:Listener=127.0.0.1:{onAdmin}", onSetting);
        Console.WriteLine($"# metrics: extra setting of the metrics-on broker: {(onSetting.Length == 0 ? "(none)" : onSetting)}");
        await using global::Broker off = await global::Broker.StartAsync(data + "-off", $"--Admin:Listener=127.0.0.1:{offAdmin}", sameSettings ? "--Metrics:Enabled=true" : "--Metrics:Enabled=false");
        if (sameSettings)
        {
            Console.WriteLine("# metrics: A/A check: the \"off\" broker has metrics on too");
        }

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{onAdmin}/"), Timeout = TimeSpan.FromSeconds(30) };
        Console.WriteLine($"# metrics: W1 = LogBroker.Client ProduceBatchAsync, {records:N0} x 100 B, acks=1, linger 5 ms, 1 partition; {Rounds} rounds, order alternated");
        foreach (global::Broker broker in (global::Broker[])[on, off])
        {
            await ProduceAsync(broker, await CreateAsync(broker, "warm"), 200_000); // JIT and page cache, not billed
        }

        using var scraping = new CancellationTokenSource();
        long scrapes = 0;
        Console.WriteLine(scrapeMs > 0 ? $"# metrics: /metrics of the metrics-on broker scraped every {scrapeMs} ms during the rounds" : "# metrics: no scraping during the rounds");
        Task scraper = Task.Run(async () =>
        {
            while (scrapeMs > 0 && !scraping.IsCancellationRequested)
            {
                using HttpResponseMessage r = await http.GetAsync(new Uri("metrics", UriKind.Relative), CancellationToken.None);
                r.EnsureSuccessStatusCode();
                scrapes++;
                try
                {
                    await Task.Delay(scrapeMs, scraping.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        });

        for (int round = 0; round < Rounds; round++)
        {
            foreach (bool metrics in round % 2 == 0 ? (bool[])[true, false] : [false, true])
            {
                global::Broker broker = metrics ? on : off;
                string topic = await CreateAsync(broker, $"w1-{round}");
                TimeSpan cpu = broker.CpuTime;
                TimeSpan elapsed = await ProduceAsync(broker, topic, records);
                double brokerCpu = (broker.CpuTime - cpu).TotalMilliseconds * 1000 / records;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"W1 metrics {(metrics ? "on " : "off")} round {round + 1}: {records / elapsed.TotalSeconds:F0} records/s, broker CPU {brokerCpu:F3} µs/record"));
                cpu = broker.CpuTime;
                elapsed = await ConsumeAsync(broker, topic, records + 1); // + the metadata record
                brokerCpu = (broker.CpuTime - cpu).TotalMilliseconds * 1000 / records;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"W1c metrics {(metrics ? "on " : "off")} round {round + 1}: {records / elapsed.TotalSeconds:F0} records/s consumed, broker CPU {brokerCpu:F3} µs/record"));
            }
        }

        await scraping.CancelAsync();
        await scraper;
        Console.WriteLine($"# metrics: {scrapes} scrapes of the metrics-on broker during the rounds");

        // The console's API with 1,000 topics (metrics-on broker).
        await using (var admin = new AdminClient(new AdminOptions { BootstrapServers = on.Bootstrap }))
        {
            for (int i = 0; i < 1000; i += 100)
            {
                await admin.CreateTopicsAsync([.. Enumerable.Range(i, 100).Select(n => new NewTopic($"many-{n:D4}", 1))]);
            }
        }

        await ProduceAsync(on, "many-0500", 10_000);
        foreach (string path in (string[])["api/broker", "api/topics", "api/topics/many-0500", "api/topics/many-0500/partitions/0/messages?offset=5000&limit=50", "api/groups", "metrics"])
        {
            var times = new List<(double Ms, double ToolGcMs)>();
            for (int i = 0; i < 60; i++)
            {
                TimeSpan paused = GC.GetTotalPauseDuration();
                var clock = Stopwatch.StartNew();
                using HttpResponseMessage r = await http.GetAsync(new Uri(path, UriKind.Relative));
                byte[] body = await r.Content.ReadAsByteArrayAsync();
                r.EnsureSuccessStatusCode();
                times.Add((clock.Elapsed.TotalMilliseconds, (GC.GetTotalPauseDuration() - paused).TotalMilliseconds));
                if (i == 0)
                {
                    Console.WriteLine($"# {path}: {body.Length:N0} bytes");
                }
            }

            times.RemoveRange(0, 10); // the first calls JIT the endpoint
            times.Sort();
            // The tool's own GC pauses during the slowest call (this process also ran the producers): the broker's share is the rest.
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"API {path} with 1,000 topics: median {times[times.Count / 2].Ms:F1} ms, p90 {times[times.Count * 9 / 10].Ms:F1} ms, max {times[^1].Ms:F1} ms (of which the tool's own GC pauses {times[^1].ToolGcMs:F1} ms) (50 calls)"));
        }
    }

    private static async Task<string> CreateAsync(global::Broker broker, string name)
    {
        await using var admin = new AdminClient(new AdminOptions { BootstrapServers = broker.Bootstrap });
        await admin.CreateTopicsAsync([new NewTopic(name, 1)]);
        return name;
    }

    private static async Task<TimeSpan> ProduceAsync(global::Broker broker, string topic, int count)
    {
        byte[] value = new byte[100];
        new Random(1).NextBytes(value);
        const int Chunk = 10_000;
        var chunk = new ProducerRecord[Chunk];
        Array.Fill(chunk, new ProducerRecord(null, value));
        await using var producer = new KafkaProducer(new ProducerOptions
        {
            BootstrapServers = broker.Bootstrap,
            Acks = Acks.Leader,
            EnableIdempotence = false,
            Linger = TimeSpan.FromMilliseconds(5),
            BufferMemory = 256L * 1024 * 1024,
        });
        await producer.ProduceBatchAsync(topic, new ArraySegment<ProducerRecord>(chunk, 0, 1)); // metadata first
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

        return clock.Elapsed;
    }

    /// <summary>W1's consume half: LogBroker.Client batch consumer from the beginning, until every record is seen.</summary>
    private static async Task<TimeSpan> ConsumeAsync(global::Broker broker, string topic, int count)
    {
        await using var consumer = new KafkaConsumer(new ConsumerOptions
        {
            BootstrapServers = broker.Bootstrap,
            FetchMaxBytes = 64 * 1024 * 1024,
            MaxPartitionFetchBytes = 16 * 1024 * 1024,
            QueuedMaxBytes = 512L * 1024 * 1024,
        });
        consumer.Assign([new LogBroker.Client.TopicPartitionOffset(topic, 0, Offsets.Beginning)]);
        var clock = Stopwatch.StartNew();
        long seen = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        while (seen < count)
        {
            ConsumeBatch? batch = await consumer.NextBatchAsync(timeout.Token);
            if (batch is null)
            {
                break;
            }

            seen += batch.Count;
        }

        return seen == count ? clock.Elapsed : throw new InvalidOperationException($"consumed {seen} of {count}");
    }

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
