// End-to-end load tool: Confluent.Kafka (librdkafka) against a LogBroker process on this machine,
// in the spirit of kafka-producer-perf-test. It starts the broker (Release build next to this tool)
// on 127.0.0.1 with a fresh data directory, runs the scenarios, prints one line per result, and stops.
//
//   dotnet run -c Release --project bench/LoadTool -- [--records 1000000] [--scenario all|produce|latency|kib|client|scale|spread|metrics|peer|latency-rounds|security|replication|fanout] [--rounds 3] [--acks 1|all] [--partitions 50000]
//
// Every loop is bounded in count and time, and all traffic stays on the loopback interface.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Confluent.Kafka;
using Confluent.Kafka.Admin;

int records = IntArg("--records", 1_000_000);
string scenario = StringArg("--scenario", "all");
string data = Path.Combine(Path.GetTempPath(), "logbroker-load-" + Guid.NewGuid().ToString("N"));
Directory.CreateDirectory(data);

Console.WriteLine($"# machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");
Console.WriteLine($"# date: {DateTime.UtcNow:u}");
try
{
    if (scenario is "replication")
    {
        // W1/W2 on a 3-broker cluster (3 etcd members): replication factor 1 against 3, acks=all, alternating rounds (not part of "all").
        await LogBroker.LoadTool.ReplicationScenario.RunAsync(data + "-repl", records, IntArg("--rounds", 3));
    }

    if (scenario is "security")
    {
        // TLS and SASL_SSL/SCRAM-SHA-256 against plaintext on W1, in alternating rounds (not part of "all").
        await LogBroker.LoadTool.SecurityScenario.RunAsync(data + "-sec", records, IntArg("--rounds", 3));
    }

    if (scenario is "all" or "baseline")
    {
        _ = DiskBaseline(data, 200L * 1024 * 1024);
    }

    if (scenario is "all" or "produce")
    {
        await using var broker = await Broker.StartAsync(data, "--Broker:FlushOnAcksAll=true");
        await WarmUpAsync(broker);
        string topic = await CreateTopicAsync(broker, "p100", 1);
        Result produce1 = Produce(broker, topic, records, 100, Acks.Leader, lingerMs: 5);
        Report("produce 100 B acks=1", produce1, broker, records);
        Result consume = Consume(broker, topic, records);
        Report("consume 100 B from the beginning", consume, broker, records);

        string topicAll = await CreateTopicAsync(broker, "pall", 1);
        Result produceAll = Produce(broker, topicAll, records, 100, Acks.All, lingerMs: 5);
        Report("produce 100 B acks=all (fsync per request)", produceAll, broker, records);
        broker.PrintMemory();
    }

    if (scenario is "all" or "kib")
    {
        await using var broker = await Broker.StartAsync(data + "-kib");
        await WarmUpAsync(broker);
        string topic = await CreateTopicAsync(broker, "p1k", 1);
        int count = Math.Max(1, records / 5);
        Result kib = Produce(broker, topic, count, 1024, Acks.Leader, lingerMs: 5);
        Report("produce 1 KiB acks=1", kib, broker, count);
        broker.PrintMemory();
    }

    if (scenario is "client")
    {
        await using var broker = await Broker.StartAsync(data + "-client", "--Broker:FlushOnAcksAll=true");
        await WarmUpAsync(broker);
        await ClientComparison.RunAsync(broker, records);
        broker.PrintMemory();
    }

    if (scenario is "scale")
    {
        await LogBroker.LoadTool.ScaleScenario.RunAsync(data + "-scale", IntArg("--partitions", 50_000));
    }

    if (scenario is "spread")
    {
        // --broker-setting passes one extra broker setting, e.g. --Storage:MaxOpenSegments=12000.
        string extra = StringArg("--broker-setting", "");
        await using var broker = extra.Length == 0 ? await Broker.StartAsync(data + "-spread") : await Broker.StartAsync(data + "-spread", extra);
        Console.WriteLine($"# spread: broker setting {(extra.Length == 0 ? "(defaults)" : extra)}");
        await WarmUpAsync(broker);
        await LogBroker.LoadTool.SpreadScenario.RunAsync(broker, records);
        broker.PrintMemory();
    }

    if (scenario is "metrics")
    {
        await LogBroker.LoadTool.MetricsScenario.RunAsync(data + "-metrics", records, IntArg("--scrape-ms", 1000), IntArg("--aa", 0) == 1, StringArg("--on-setting", ""));
    }

    if (scenario is "peer")
    {
        await PeerAsync(data + "-peer", records, IntArg("--rounds", 3), IntArg("--latency-seconds", 10));
    }

    if (scenario is "fanout")
    {
        // Issue 15: 1 partition x 1 producer connection against --connections partitions x as many connections.
        await LogBroker.LoadTool.FanoutScenario.RunAsync(data + "-fanout", records, IntArg("--rounds", 3), IntArg("--connections", 100), IntArg("--latency-seconds", 10));
    }

    if (scenario is "latency-rounds")
    {
        // Issue 15: alternating rounds of the broker path and the loopback floor, acks 1 or all.
        await LatencyScenario.RunAsync(data + "-lat", IntArg("--rounds", 3), IntArg("--latency-seconds", 10),
            StringArg("--acks", "1") == "all" ? Acks.All : Acks.Leader, IntArg("--size", 100), IntArg("--rate", 20_000));
    }

    if (scenario is "all" or "latency")
    {
        await using var broker = await Broker.StartAsync(data + "-lat");
        await WarmUpAsync(broker);
        string topic = await CreateTopicAsync(broker, "lat", 1);
        Latency(broker, topic, ratePerSecond: 20_000, seconds: 10);
        broker.PrintMemory();
    }
}
finally
{
    foreach (string dir in new[] { data, data + "-kib", data + "-lat", data + "-client", data + "-scale", data + "-scale-empty", data + "-spread", data + "-metrics-on", data + "-metrics-off", data + "-peer", data + "-lat-0", data + "-lat-1", data + "-lat-2", data + "-lat-3", data + "-lat-4", data + "-sec" })
    {
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

return;

// LogBroker against Redis 7 Streams on W1 (produce N x 100 B acks=1, consume them), W2 (N/5 x 1 KiB) and
// latency at 20,000 rec/s, in alternating rounds (the order flips every round), then a markdown table of
// medians, ranges and ratios. Each side's server is a fresh child process per round.
static async Task PeerAsync(string dir, int records, int rounds, int latencySeconds)
{
    int kib = Math.Max(1, records / 5);
    var rows = new Dictionary<string, (List<double> Ours, List<double> Peer, string Unit, bool Higher)>();
    void Add(string row, string unit, bool higherIsBetter, bool ours, double value)
    {
        if (!rows.TryGetValue(row, out var r))
        {
            r = (new List<double>(), new List<double>(), unit, higherIsBetter);
            rows[row] = r;
        }

        (ours ? r.Ours : r.Peer).Add(value);
    }

    var disk = new List<double>();
    for (int round = 0; round < rounds; round++)
    {
        disk.Add(DiskBaseline(Path.GetTempPath(), 200L * 1024 * 1024));
        for (int k = 0; k < 2; k++)
        {
            bool ours = (k == 0) == (round % 2 == 0);
            string d = $"{dir}-{round}-{(ours ? "lb" : "redis")}";
            Result p1, c1, p2;
            LatencyFigures lat;
            if (ours)
            {
                await using var broker = await Broker.StartAsync(d);
                await WarmUpAsync(broker);
                string w1 = await CreateTopicAsync(broker, "w1", 1);
                p1 = Produce(broker, w1, records, 100, Acks.Leader, lingerMs: 5);
                c1 = Consume(broker, w1, records);
                string w2 = await CreateTopicAsync(broker, "w2", 1);
                p2 = Produce(broker, w2, kib, 1024, Acks.Leader, lingerMs: 5);
                string lt = await CreateTopicAsync(broker, "lat", 1);
                lat = Latency(broker, lt, ratePerSecond: 20_000, seconds: latencySeconds);
                broker.PrintMemory();
            }
            else
            {
                await using var redis = await RedisPeer.StartAsync(d);
                p1 = await redis.ProduceAsync("w1", records, 100);
                c1 = await redis.ConsumeAsync("w1", records);
                p2 = await redis.ProduceAsync("w2", kib, 1024);
                lat = redis.Latency("lat", ratePerSecond: 20_000, seconds: latencySeconds, size: 100);
                Console.WriteLine(redis.Memory());
            }

            string who = ours ? "LogBroker" : "Redis";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {round + 1} {who}: W1 produce {records / p1.Elapsed.TotalSeconds:F0} rec/s ({p1.BrokerCpu.TotalMilliseconds * 1000 / records:F3} µs server CPU/rec), consume {records / c1.Elapsed.TotalSeconds:F0} rec/s ({c1.BrokerCpu.TotalMilliseconds * 1000 / records:F3} µs/rec), W2 {p2.Bytes / p2.Elapsed.TotalSeconds / 1e6:F1} MB/s, latency {lat}"));
            Add($"W1 produce {records} x 100 B acks=1", "k rec/s", true, ours, records / p1.Elapsed.TotalSeconds / 1e3);
            Add("W1 server CPU per produced record", "µs", false, ours, p1.BrokerCpu.TotalMilliseconds * 1000 / records);
            Add("W1 consume them", "k rec/s", true, ours, records / c1.Elapsed.TotalSeconds / 1e3);
            Add("W1 server CPU per consumed record", "µs", false, ours, c1.BrokerCpu.TotalMilliseconds * 1000 / records);
            Add($"W2 produce {kib} x 1 KiB acks=1", "MB/s", true, ours, p2.Bytes / p2.Elapsed.TotalSeconds / 1e6);
            Add("latency 20k rec/s p50", "ms", false, ours, lat.P50);
            Add("latency 20k rec/s p99", "ms", false, ours, lat.P99);
            Add("latency 20k rec/s p99.9", "ms", false, ours, lat.P999);
            Add("latency 20k rec/s max", "ms", false, ours, lat.Max);
        }
    }

    Console.WriteLine();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Same-run disk baseline (buffered FileStream, 1 MiB writes): median {RoundStats.Median(disk):F0} MB/s ({disk.Min():F0}–{disk.Max():F0}); {rounds} alternating rounds, median (range)."));
    Console.WriteLine();
    Console.WriteLine("| workload | unit | LogBroker | Redis Streams | LogBroker / Redis (medians) |");
    Console.WriteLine("|---|---|---|---|---|");
    foreach (var (row, r) in rows)
    {
        double ratio = RoundStats.Median(r.Ours) / RoundStats.Median(r.Peer);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {row} | {r.Unit} | {RoundStats.Cell(r.Ours)} | {RoundStats.Cell(r.Peer)} | {ratio:F2}× |"));
    }
}

// Runs the broker's produce and fetch paths once so JIT compilation is not billed to the scenario.
static async Task WarmUpAsync(Broker broker)
{
    string topic = await CreateTopicAsync(broker, "warmup-" + Guid.NewGuid().ToString("N"), 1);
    Produce(broker, topic, 50_000, 100, Acks.All, lingerMs: 5);
    Consume(broker, topic, 50_000);
}

static Result Produce(Broker broker, string topic, int count, int size, Acks acks, int lingerMs)
{
    byte[] value = new byte[size];
    new Random(1).NextBytes(value);
    using IProducer<Null, byte[]> producer = new ProducerBuilder<Null, byte[]>(ConfluentSender.ThroughputConfig(broker.Bootstrap, acks, lingerMs)).Build();
    var sender = new ConfluentSender(producer);
    TimeSpan cpuBefore = broker.CpuTime;
    var clock = Stopwatch.StartNew();
    sender.Send(topic, new Message<Null, byte[]> { Value = value }, count);
    sender.FlushOrThrow(TimeSpan.FromMinutes(5));
    return new Result(clock.Elapsed, (long)count * size, broker.CpuTime - cpuBefore);
}

static Result Consume(Broker broker, string topic, int count)
{
    using IConsumer<Ignore, byte[]> consumer = new ConsumerBuilder<Ignore, byte[]>(ConfluentSender.ThroughputConsumerConfig(broker.Bootstrap, "load")).Build();
    consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
    TimeSpan cpuBefore = broker.CpuTime;
    var clock = Stopwatch.StartNew();
    long bytes = ConfluentSender.ReadOrThrow(consumer, count);
    return new Result(clock.Elapsed, bytes, broker.CpuTime - cpuBefore);
}

static LatencyFigures Latency(Broker broker, string topic, int ratePerSecond, int seconds)
{
    LatencyFigures figures = LatencyScenario.Measure(broker, topic, ratePerSecond, seconds, Acks.Leader, 100);
    Console.WriteLine($"latency end-to-end at {ratePerSecond}/s for {seconds} s, 100 B, acks=1, linger 0: {figures}");
    return figures;
}

static double DiskBaseline(string directory, long bytes)
{
    string path = Path.Combine(directory, "baseline.bin");
    byte[] chunk = new byte[1024 * 1024];
    new Random(2).NextBytes(chunk);
    var clock = Stopwatch.StartNew();
    double buffered;
    using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
    {
        for (long written = 0; written < bytes; written += chunk.Length)
        {
            file.Write(chunk);
        }

        buffered = bytes / clock.Elapsed.TotalSeconds / 1e6;
        file.Flush(flushToDisk: true);
        double synced = bytes / clock.Elapsed.TotalSeconds / 1e6;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"baseline sequential FileStream write of {bytes >> 20} MiB in 1 MiB chunks: {buffered:F0} MB/s buffered, {synced:F0} MB/s including the final fsync"));
    }

    File.Delete(path);
    return buffered;
}

static void Report(string name, Result result, Broker broker, int count)
{
    double seconds = result.Elapsed.TotalSeconds;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{name}: {count} records in {seconds:F2} s = {count / seconds:F0} records/s, {result.Bytes / seconds / 1e6:F1} MB/s, broker CPU {result.BrokerCpu.TotalSeconds:F2} s = {result.BrokerCpu.TotalMilliseconds * 1000 / count:F3} µs/record"));
}

static async Task<string> CreateTopicAsync(Broker broker, string name, int partitions)
{
    using IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.Bootstrap }).Build();
    await admin.CreateTopicsAsync([new TopicSpecification { Name = name, NumPartitions = partitions, ReplicationFactor = 1 }]);
    return name;
}

int IntArg(string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

string StringArg(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

internal readonly record struct Result(TimeSpan Elapsed, long Bytes, TimeSpan BrokerCpu);

/// <summary>The broker as a child process, so its CPU time and memory can be read on their own.</summary>
internal sealed class Broker : IAsyncDisposable
{
    private readonly Process _process;

    private Broker(Process process, int port)
    {
        _process = process;
        Bootstrap = $"127.0.0.1:{port}";
    }

    public string Bootstrap { get; }

    public int Pid => _process.Id;

    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    public static Task<Broker> StartAsync(string data, params string[] settings) => StartOnAsync(FreePort(), data, settings);

    /// <summary>Starts the broker with its listener on <paramref name="port"/> (security listeners in <paramref name="settings"/> must include it).</summary>
    public static async Task<Broker> StartOnAsync(int port, string data, params string[] settings)
    {
        Process process = LaunchOn(port, data, settings);
        for (int i = 0; i < 600; i++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return new Broker(process, port);
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }

        process.Kill();
        throw new TimeoutException("broker did not start");
    }

    /// <summary>Starts the Release broker next to this tool on a free loopback port (not yet listening when this returns).</summary>
    public static (Process Process, int Port) Launch(string data, params string[] settings)
    {
        int port = FreePort();
        return (LaunchOn(port, data, settings), port);
    }

    /// <summary>A loopback port free now.</summary>
    public static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private static Process LaunchOn(int port, string data, string[] settings)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in (string[])[Path.Combine(AppContext.BaseDirectory, "logbroker-broker.dll"), $"--Broker:Listener=127.0.0.1:{port}",
                     $"--Storage:DataDirectory={data}", "--Logging:LogLevel:Default=Warning", .. settings])
        {
            start.ArgumentList.Add(arg);
        }

        // LOADTOOL_BROKER_ENV="NAME=VALUE;NAME2=" sets (or, with an empty value, removes) variables in the broker's
        // environment only, so a runtime knob can be tried on the broker apart from this tool's own process.
        foreach (string pair in (Environment.GetEnvironmentVariable("LOADTOOL_BROKER_ENV") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            string name = eq < 0 ? pair : pair[..eq];
            string value = eq < 0 ? "" : pair[(eq + 1)..];
            if (value.Length == 0)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        Process process = Process.Start(start)!;
        // LOADTOOL_BROKER_LOG=FILE keeps the broker's console output (for diagnosing a stalled or failed run).
        if (Environment.GetEnvironmentVariable("LOADTOOL_BROKER_LOG") is { Length: > 0 } logPath)
        {
            var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        }
        else
        {
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Peak resident set (VmHWM) and, now, anonymous vs file-backed (mapped segments) resident memory.</summary>
    public void PrintMemory()
    {
        string status = File.ReadAllText($"/proc/{_process.Id}/status");
        string Field(string name) => status.Split('\n').FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?";
        Console.WriteLine($"broker memory: peak RSS (VmHWM) {Field("VmHWM")}, now RssAnon {Field("RssAnon")}, RssFile {Field("RssFile")} (mapped segment pages); threads {Field("Threads")}, context switches voluntary {SumThreads("voluntary_ctxt_switches")}, involuntary {SumThreads("nonvoluntary_ctxt_switches")}");
    }

    // Summed over the broker's threads (the process's own status counts only its main thread's switches).
    private long SumThreads(string field)
    {
        long sum = 0;
        foreach (string task in Directory.GetDirectories($"/proc/{_process.Id}/task"))
        {
            try
            {
                foreach (string line in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (line.StartsWith(field + ":", StringComparison.Ordinal))
                    {
                        sum += long.Parse(line.AsSpan(field.Length + 1).Trim(), CultureInfo.InvariantCulture);
                    }
                }
            }
            catch (IOException)
            {
                // the thread exited meanwhile
            }
        }

        return sum;
    }

    public async ValueTask DisposeAsync()
    {
        using (Process term = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }

        if (!_process.WaitForExit(30_000))
        {
            _process.Kill();
        }

        _process.Dispose();
    }
}
