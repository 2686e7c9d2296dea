using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using HdrHistogram;
using StackExchange.Redis;

/// <summary>
/// Redis 7 Streams as the peer on LogBroker's workloads, in the same run: a redis-server child process on
/// 127.0.0.1 with AOF (appendfsync everysec, the durability closest to acks=1 with a page-cache log),
/// produced to with pipelined XADD and consumed with XRANGE batches through StackExchange.Redis. The server
/// is started here with a fresh directory and stopped by its PID, so its CPU time can be read on its own.
/// </summary>
internal sealed class RedisPeer : IAsyncDisposable
{
    // Outstanding XADDs before the producer awaits them: pipelined like librdkafka's batching, bounded.
    private const int Window = 10_000;
    private const int ReadBatch = 10_000;

    private readonly Process _process;
    private readonly string _directory;
    private readonly ConnectionMultiplexer _connection;

    private RedisPeer(Process process, string directory, ConnectionMultiplexer connection, string endpoint)
    {
        _process = process;
        _directory = directory;
        _connection = connection;
        Endpoint = endpoint;
    }

    public string Endpoint { get; }

    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>Starts redis-server (Debian: <c>apt-get install -y redis-server</c>) on a free loopback port.</summary>
    public static async Task<RedisPeer> StartAsync(string directory)
    {
        Directory.CreateDirectory(directory);
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        var start = new ProcessStartInfo("redis-server") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in (string[])["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--protected-mode", "yes",
                     "--dir", directory, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no", "--loglevel", "warning"])
        {
            start.ArgumentList.Add(arg);
        }

        Process process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start (apt-get install -y redis-server)");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string endpoint = $"127.0.0.1:{port}";
        for (int i = 0; i < 100; i++)
        {
            try
            {
                ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(Options(endpoint));
                return new RedisPeer(process, directory, connection, endpoint);
            }
            catch (RedisConnectionException)
            {
                await Task.Delay(100);
            }
        }

        process.Kill();
        throw new TimeoutException("redis-server did not start");
    }

    private static ConfigurationOptions Options(string endpoint) => new()
    {
        EndPoints = { endpoint },
        AbortOnConnectFail = true,
        SyncTimeout = 60_000,
        AsyncTimeout = 60_000,
        Protocol = RedisProtocol.Resp2, // XREAD's reply parsed below is RESP2's nested arrays (RESP3 makes it a map)
    };

    /// <summary>XADD <paramref name="count"/> records of <paramref name="size"/> bytes to a new stream, pipelined.</summary>
    public async Task<Result> ProduceAsync(string key, int count, int size)
    {
        IDatabase db = _connection.GetDatabase();
        byte[] value = new byte[size];
        new Random(1).NextBytes(value);
        var pending = new Task<RedisValue>[Window];
        TimeSpan cpuBefore = CpuTime;
        var clock = Stopwatch.StartNew();
        int i = 0;
        while (i < count)
        {
            int n = Math.Min(Window, count - i);
            for (int k = 0; k < n; k++)
            {
                pending[k] = db.StreamAddAsync(key, "v", value);
            }

            for (int k = 0; k < n; k++)
            {
                await pending[k];
            }

            i += n;
        }

        return new Result(clock.Elapsed, (long)count * size, CpuTime - cpuBefore);
    }

    /// <summary>Reads the whole stream from the start in XRANGE batches of <see cref="ReadBatch"/>.</summary>
    public async Task<Result> ConsumeAsync(string key, int count)
    {
        IDatabase db = _connection.GetDatabase();
        TimeSpan cpuBefore = CpuTime;
        var clock = Stopwatch.StartNew();
        long bytes = 0;
        int seen = 0;
        RedisValue from = "-";
        while (seen < count && clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            StreamEntry[] entries = await db.StreamRangeAsync(key, from, "+", ReadBatch);
            if (entries.Length == 0)
            {
                break;
            }

            foreach (StreamEntry e in entries)
            {
                bytes += ((byte[])e.Values[0].Value!).Length;
            }

            seen += entries.Length;
            from = "(" + entries[^1].Id; // exclusive start (Redis 6.2+)
        }

        if (seen != count)
        {
            throw new InvalidOperationException($"redis: consumed {seen} of {count}");
        }

        return new Result(clock.Elapsed, bytes, CpuTime - cpuBefore);
    }

    /// <summary>
    /// End-to-end latency at a fixed rate: XADD from this thread, read back by a reader on its own
    /// connection blocked in XREAD BLOCK 100 (the counterpart of fetch.wait.max.ms 100).
    /// </summary>
    public LatencyFigures Latency(string key, int ratePerSecond, int seconds, int size)
    {
        var histogram = new LongHistogram(TimeStamp.Seconds(10), 3);
        IDatabase db = _connection.GetDatabase();
        db.StreamAdd(key, "v", new byte[8]); // the stream exists; the reader starts after this entry
        using ConnectionMultiplexer readerConnection = ConnectionMultiplexer.Connect(Options(Endpoint));
        IDatabase readerDb = readerConnection.GetDatabase();
        int total = ratePerSecond * seconds;
        long received = 0;
        var reader = new Thread(() =>
        {
            string last = "$";
            var deadline = Stopwatch.StartNew();
            while (Interlocked.Read(ref received) < total && deadline.Elapsed < TimeSpan.FromSeconds(seconds + 30))
            {
                RedisResult result = readerDb.Execute("XREAD", "COUNT", 1000, "BLOCK", 100, "STREAMS", key, last);
                if (result.IsNull)
                {
                    continue;
                }

                long now = Stopwatch.GetTimestamp();
                RedisResult[] entries = (RedisResult[])((RedisResult[])((RedisResult[])result!)[0]!)[1]!;
                foreach (RedisResult entry in entries)
                {
                    RedisResult[] parts = (RedisResult[])entry!;
                    byte[] v = (byte[])((RedisResult[])parts[1]!)[1]!;
                    histogram.RecordValue(Math.Max(0, now - BitConverter.ToInt64(v)));
                    last = (string)parts[0]!;
                    Interlocked.Increment(ref received);
                }
            }
        });
        reader.Start();
        Thread.Sleep(300); // the reader is blocked in XREAD before the clock starts

        var clock = Stopwatch.StartNew();
        byte[] value = new byte[size];
        for (int i = 0; i < total; i++)
        {
            long due = (long)(i * (double)Stopwatch.Frequency / ratePerSecond);
            while (clock.ElapsedTicks < due)
            {
                Thread.Sleep(1);
            }

            BitConverter.TryWriteBytes(value, Stopwatch.GetTimestamp());
            db.StreamAdd(key, "v", (byte[])value.Clone(), flags: CommandFlags.FireAndForget);
        }

        reader.Join();
        return LatencyFigures.From(histogram, total);
    }

    /// <summary>Resident memory of the server process (RssAnon and RssFile apart).</summary>
    public string Memory()
    {
        string status = File.ReadAllText($"/proc/{_process.Id}/status");
        string Field(string name) => status.Split('\n').FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?";
        return $"redis memory: peak RSS (VmHWM) {Field("VmHWM")}, now RssAnon {Field("RssAnon")}, RssFile {Field("RssFile")}";
    }

    public async ValueTask DisposeAsync()
    {
        await _connection.DisposeAsync();
        using (Process term = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }

        if (!_process.WaitForExit(30_000))
        {
            _process.Kill();
        }

        _process.Dispose();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}

/// <summary>Percentiles of one latency run in milliseconds.</summary>
internal readonly record struct LatencyFigures(long Received, long Expected, double P50, double P99, double P999, double Max)
{
    public static LatencyFigures From(LongHistogram h, long expected)
    {
        double Ms(double percentile) => h.GetValueAtPercentile(percentile) * 1000.0 / Stopwatch.Frequency;
        return new LatencyFigures(h.TotalCount, expected, Ms(50), Ms(99), Ms(99.9), h.GetMaxValue() * 1000.0 / Stopwatch.Frequency);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"received {Received}/{Expected}, p50 {P50:F3} ms, p99 {P99:F3} ms, p99.9 {P999:F3} ms, max {Max:F3} ms");
}
