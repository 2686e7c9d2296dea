using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests;

/// <summary>
/// Burrow (LinkedIn's consumer-lag monitor, Debian's 1.2.1 on sarama 1.22) as a real process against
/// the broker: it reads the committed offsets from <c>__consumer_offsets</c> in Kafka's schemas and the
/// log end offsets with ListOffsets, and its HTTP API (127.0.0.1) reports a group's lag per partition.
/// Burrow 1.2.1 will not start without ZooKeeper (its coordinator panics on an empty server list), so
/// the test starts one too, from Debian's zookeeper package. Both are stopped by PID. <c>.ci/run</c>
/// installs the packages when missing; without them the test is skipped, saying so.
/// </summary>
public sealed class BurrowTests : IAsyncLifetime
{
    private const string BurrowBinary = "/usr/bin/Burrow";
    private static readonly string[] ZooKeeperJars =
    [
        "zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar", "netty-handler.jar", "netty-common.jar",
        "netty-transport.jar", "netty-buffer.jar", "netty-codec.jar", "netty-resolver.jar", "netty-transport-native-unix-common.jar",
        "metrics-core.jar", "commons-cli.jar", "commons-io.jar", "snappy-java.jar", "jline.jar",
    ];

    private readonly BrokerFixture _broker = new();
    private readonly TempDirectory _dir = new("burrow");
    private readonly List<Process> _started = [];

    public ValueTask InitializeAsync() => _broker.InitializeAsync();

    public async ValueTask DisposeAsync()
    {
        foreach (Process process in _started)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true); // by PID: only what this test started
                    await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
                }
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException)
            {
            }

            process.Dispose();
        }

        await _broker.DisposeAsync();
        if (Environment.GetEnvironmentVariable("KEEP_BURROW_DIR") is { } keep)
        {
            CopyDirectory(_dir.Path, keep);
        }

        _dir.Dispose();
    }

    [Fact]
    public async Task Burrow_reports_a_groups_lag_per_partition_exactly()
    {
        Assert.SkipUnless(File.Exists(BurrowBinary) && File.Exists("/usr/share/java/zookeeper.jar") && Which("java") is not null,
            "Burrow and ZooKeeper are not installed (apt-get install burrow zookeeper; .ci/run does it)");
        CancellationToken ct = TestContext.Current.CancellationToken;

        // Burrow's cluster module sends ListOffsets v0 whatever its kafka-version (sarama.OffsetRequest{}).
        using (RawConnection raw = await RawConnection.OpenAsync(_broker.Port))
        {
            ApiVersionsResponse versions = await raw.RequestAsync<ApiVersionsResponse>(Protocol.Messages.ApiKey.ApiVersions, 0, new ApiVersionsRequest(), TimeSpan.FromSeconds(10));
            Assert.SkipWhen(versions.ApiKeys.Single(k => k.ApiKey == (short)Protocol.Messages.ApiKey.ListOffsets).MinVersion > 0,
                "the broker does not serve ListOffsets v0 yet, which Burrow 1.2.1 sends (the API-versions work adds it)");
        }

        // A topic with 10 records in partition 0 and 20 in partition 1; the group commits 4 and 15.
        string topic = BrokerFixture.UniqueTopic("burrow");
        string group = "burrow-" + Guid.NewGuid().ToString("N");
        using (IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.Bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 2, ReplicationFactor = 1 }]);
        }

        using (IProducer<Null, string> producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = _broker.Bootstrap }).Build())
        {
            for (int i = 0; i < 30; i++)
            {
                producer.Produce(new TopicPartition(topic, i < 10 ? 0 : 1), new Message<Null, string> { Value = "r" + i });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        int zooKeeperPort = BrokerProcess.FreePort(), httpPort = BrokerProcess.FreePort();
        StartZooKeeper(zooKeeperPort);
        await WaitForZooKeeperAsync(zooKeeperPort, ct);
        StartBurrow(zooKeeperPort, httpPort);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/"), Timeout = TimeSpan.FromSeconds(5) };

        using (IConsumer<Null, string> consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig
        {
            BootstrapServers = _broker.Bootstrap,
            GroupId = group,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build())
        {
            consumer.Commit([new TopicPartitionOffset(topic, 0, 4), new TopicPartitionOffset(topic, 1, 15)]);
        }

        // Burrow evaluates a group once it has seen its commits and the partitions' end offsets.
        Dictionary<int, long>? lag = null;
        string last = "";
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = await http.GetStringAsync($"v3/kafka/local/consumer/{group}/lag", ct);
                lag = Lag(last, topic);
                if (lag is { Count: 2 } && lag[0] == 6 && lag[1] == 5)
                {
                    break;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            await Task.Delay(500, ct);
        }

        Assert.True(lag is not null, $"Burrow never answered for the group: {Tail(last)}");
        Assert.Equal(new Dictionary<int, long> { [0] = 10 - 4, [1] = 20 - 15 }, lag);
    }

    /// <summary>Partition → current_lag from Burrow's /lag answer for <paramref name="topic"/>.</summary>
    private static Dictionary<int, long>? Lag(string json, string topic)
    {
        using JsonDocument document = JsonDocument.Parse(json);
        if (document.RootElement.GetProperty("error").GetBoolean() ||
            !document.RootElement.TryGetProperty("status", out JsonElement status) ||
            !status.TryGetProperty("partitions", out JsonElement partitions) || partitions.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        var lag = new Dictionary<int, long>();
        foreach (JsonElement p in partitions.EnumerateArray())
        {
            if (p.GetProperty("topic").GetString() == topic)
            {
                lag[p.GetProperty("partition").GetInt32()] = p.GetProperty("current_lag").GetInt64();
            }
        }

        return lag;
    }

    private void StartZooKeeper(int port)
    {
        string data = _dir.Combine("zk-data");
        Directory.CreateDirectory(data);
        string config = _dir.Combine("zoo.cfg");
        File.WriteAllText(config, string.Create(CultureInfo.InvariantCulture,
            $"tickTime=2000\ndataDir={data}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=srvr\n"));
        string classPath = string.Join(':', ZooKeeperJars.Select(j => Path.Combine("/usr/share/java", j)).Where(File.Exists));
        Start("java", _dir.Combine("zookeeper.log"),
            "-Xmx128m", "-Dzookeeper.admin.enableServer=false", "-cp", classPath, "org.apache.zookeeper.server.quorum.QuorumPeerMain", config);
    }

    private void StartBurrow(int zooKeeperPort, int httpPort)
    {
        // kafka-version 2.0.0: sarama 1.22 uses Fetch v4+ and Metadata v5 (the broker's Fetch starts at
        // v4); Burrow's cluster module still sends ListOffsets v0.
        File.WriteAllText(_dir.Combine("burrow.toml"), string.Create(CultureInfo.InvariantCulture, $"""
            [general]
            pidfile="{_dir.Combine("burrow.pid")}"
            [logging]
            level="info"
            [zookeeper]
            servers=["127.0.0.1:{zooKeeperPort}"]
            timeout=6
            root-path="/burrow"
            [client-profile.lb]
            client-id="burrow-test"
            kafka-version="2.0.0"
            [cluster.local]
            class-name="kafka"
            servers=["127.0.0.1:{_broker.Port}"]
            client-profile="lb"
            topic-refresh=2
            offset-refresh=1
            [consumer.local]
            class-name="kafka"
            cluster="local"
            servers=["127.0.0.1:{_broker.Port}"]
            client-profile="lb"
            start-latest=false
            [httpserver.default]
            address="127.0.0.1:{httpPort}"
            [storage.default]
            class-name="inmemory"
            workers=2
            intervals=10
            expire-group=604800
            min-distance=1
            """));
        Start(BurrowBinary, _dir.Combine("burrow.log"), "-config-dir", _dir.Path);
    }

    private void Start(string program, string logFile, params string[] args)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _dir.Path,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        _started.Add(process);
        var log = new StreamWriter(logFile) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>Waits until ZooKeeper's "srvr" reports a mode (an open port, even "imok", is too early for Burrow's session).</summary>
    private static async Task WaitForZooKeeperAsync(int port, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                // One probe may not outlive 2 s: a ZooKeeper still starting can accept and then never answer
                // nor close, and an unbounded ReadToEnd hung the whole run.
                using var probe = CancellationTokenSource.CreateLinkedTokenSource(ct);
                probe.CancelAfter(TimeSpan.FromSeconds(2));
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port, probe.Token);
                NetworkStream stream = client.GetStream();
                await stream.WriteAsync("srvr"u8.ToArray(), probe.Token);
                using var reader = new StreamReader(stream);
                if ((await reader.ReadToEndAsync(probe.Token)).Contains("Mode:", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (Exception e) when ((e is SocketException or IOException || (e is OperationCanceledException && !ct.IsCancellationRequested)) && DateTime.UtcNow < deadline)
            {
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException("ZooKeeper was not serving within 30 s");
            }

            await Task.Delay(200, ct);
        }
    }

    private static string? Which(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)), overwrite: true);
        }
    }

    private static string Tail(string text) => text.Length > 500 ? text[^500..] : text;
}
