using System.Globalization;
using System.Text;
using LogBroker.Broker.Cluster;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests.Cluster;

/// <summary>
/// A real 3-member etcd cluster and 3 broker processes (ids 1–3) in cluster mode on 127.0.0.1, each with its
/// own data directory; lease TTL 2 s. Every process is stopped by its PID on dispose; every wait is bounded.
/// </summary>
public sealed class ThreeBrokerCluster : IAsyncLifetime
{
    private readonly TempDirectory _dirs = new("cluster");
    private EtcdCluster? _etcd;

    public Dictionary<int, BrokerProcess> Brokers { get; } = [];

    /// <summary>Each broker's admin (metrics) port.</summary>
    public Dictionary<int, int> AdminPorts { get; } = [];

    public EtcdControllerStore Store { get; private set; } = null!;

    public ClusterKeys Keys { get; } = new();

    /// <summary>Extra settings for every broker.</summary>
    public IReadOnlyList<string> Settings { get; init; } = [];

    /// <summary>Settings of one broker, given its id and its port (e.g. its own listeners), after <see cref="Settings"/>.</summary>
    public Func<int, int, IEnumerable<string>>? BrokerSettings { get; init; }

    /// <summary>Environment variables of every broker (secrets: passwords).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    public IReadOnlyList<string> EtcdEndpoints => _etcd!.Endpoints;

    /// <summary>
    /// A network namespace for broker <see cref="IsolatedId"/>, or null when every broker is on 127.0.0.1. With one, every
    /// broker has two listeners: PLAINTEXT for clients (the isolated broker's on the namespace's client link) and
    /// REPLICATION, the inter-broker listener (on the cluster link: the isolated broker's side, or the other side for
    /// the rest), and the isolated broker dials etcd across the cluster link (at <see cref="IsolatedHost.EtcdAddress"/>), so
    /// <see cref="IsolatedHost.CutAsync"/> partitions it from etcd and its peers but not from the test's clients, and
    /// <see cref="IsolatedHost.CutEtcdAsync"/> from etcd alone.
    /// </summary>
    public IsolatedHost? Isolated { get; init; }

    public int IsolatedId { get; init; } = 3;

    /// <summary>The broker started first, and started alone until the store names it controller (then the rest in order).</summary>
    public int FirstStarted { get; init; } = 1;

    public string DataDirectory(int id) => _dirs.Combine($"b{id}");

    public string Bootstrap => string.Join(',', Brokers.Values.Select(b => b.Bootstrap));

    /// <summary>A cluster of its own for one test (<c>await using</c>); everything started is stopped if the start fails.</summary>
    public static Task<ThreeBrokerCluster> StartAsync(params string[] settings) => StartAsync(new ThreeBrokerCluster { Settings = settings });

    /// <summary>Starts <paramref name="cluster"/> (configured by its init properties) for one test.</summary>
    public static async Task<ThreeBrokerCluster> StartAsync(ThreeBrokerCluster cluster)
    {
        try
        {
            await cluster.InitializeAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async ValueTask InitializeAsync()
    {
        _etcd = await EtcdCluster.StartAsync(3, Isolated?.EtcdAddress);
        Store = new EtcdControllerStore(_etcd.Endpoints, TimeSpan.FromSeconds(5));
        foreach (int id in (int[])[FirstStarted, .. Enumerable.Range(1, 3).Where(i => i != FirstStarted)])
        {
            Directory.CreateDirectory(DataDirectory(id));
            Brokers[id] = await StartBrokerAsync(id, BrokerProcess.FreePort());
            if (id == FirstStarted)
            {
                Assert.Equal(id, await ControllerIdAsync());
            }
        }

        var registered = await WaitForAsync(async () => (await Store.RangeAsync(Keys.BrokersPrefix, CancellationToken.None)).Items.Count, n => n == 3);
        Assert.Equal(3, registered);

        // Every broker's own view names the store's controller and all three brokers before a client is let in:
        // librdkafka's admin client, told "no controller" (-1) by a broker whose watch has not caught up yet, asks
        // once more and then waits for a broker state change, and a CreateTopics then times out after a minute.
        var views = await WaitForAsync(ViewsAsync, v => v.Controller > 0 && v.Brokers.All(b => b.Controller == v.Controller && b.Brokers == 3));
        Assert.True(views.Controller > 0, "no controller in the store");
        foreach (var (id, named, brokers) in views.Brokers)
        {
            Assert.True(named == views.Controller && brokers == 3, $"broker {id} names controller {named} and {brokers} brokers; the store says {views.Controller}");
        }
    }

    private async Task<(int Controller, List<(int Id, int Controller, int Brokers)> Brokers)> ViewsAsync()
    {
        var kv = await Store.GetAsync(Keys.Controller, CancellationToken.None);
        int controller = kv is null ? -1 : int.Parse(Encoding.UTF8.GetString(kv.Value), CultureInfo.InvariantCulture);
        var views = new List<(int, int, int)>();
        foreach (int id in Brokers.Keys)
        {
            var metadata = await MetadataAsync(id);
            views.Add((id, metadata.ControllerId, metadata.Brokers.Count));
        }

        return (controller, views);
    }

    /// <summary>The address broker <paramref name="id"/>'s clients are on.</summary>
    public string HostOf(int id) => Isolated is { } isolated && id == IsolatedId ? isolated.ClientAddress : "127.0.0.1";

    public Task<BrokerProcess> StartBrokerAsync(int id, int port)
    {
        AdminPorts[id] = BrokerProcess.FreePort();
        string host = HostOf(id);
        bool isolated = Isolated is not null && id == IsolatedId;
        IReadOnlyList<string> etcd = isolated ? _etcd!.EndpointsAt(Isolated!.EtcdAddress) : _etcd!.Endpoints;
        string[] listeners = Isolated is null ? [] :
        [
            $"--Security:Listeners:0:Address={host}:{port}",
            "--Security:Listeners:1:Name=REPLICATION", $"--Security:Listeners:1:Address={(isolated ? Isolated.ClusterAddress : Isolated.PeerAddress)}:{BrokerProcess.FreePort()}",
            "--Replication:InterBrokerListener=REPLICATION",
        ];

        // The last value of a key on the command line wins: the admin listener is on, for /metrics (on loopback, as it
        // must be without authentication: the isolated broker's is inside its namespace, out of the test's reach).
        return BrokerProcess.StartAsync(DataDirectory(id), host, port, [
            $"--Broker:NodeId={id}", "--Cluster:LeaseTtl=00:00:02", .. etcd.Select((e, i) => $"--Cluster:Etcd:Endpoints:{i}={e}"),
            "--Admin:Enabled=true", $"--Admin:Listener=127.0.0.1:{AdminPorts[id]}", .. listeners, .. Settings, .. BrokerSettings?.Invoke(id, port) ?? []],
            Environment, isolated ? Isolated!.Launcher : []);
    }

    /// <summary>Creates a topic through a Confluent.Kafka admin client bootstrapped at every broker.</summary>
    public async Task CreateTopicAsync(string topic, int partitions, short replicationFactor = 3, Dictionary<string, string>? configs = null)
    {
        using var admin = new Confluent.Kafka.AdminClientBuilder(new Confluent.Kafka.AdminClientConfig { BootstrapServers = Bootstrap }).Build();
        await admin.CreateTopicsAsync([new Confluent.Kafka.Admin.TopicSpecification
        {
            Name = topic, NumPartitions = partitions, ReplicationFactor = replicationFactor, Configs = configs,
        }]);
    }

    /// <summary>One metric's value from broker <paramref name="id"/>'s Prometheus text (the sum of its series), or null when absent.</summary>
    public async Task<double?> MetricAsync(int id, string name)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        string text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{AdminPorts[id]}/metrics"));
        double? sum = null;
        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith(name, StringComparison.Ordinal) && line.Length > name.Length && line[name.Length] is ' ' or '{')
            {
                sum = (sum ?? 0) + double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            }
        }

        return sum;
    }

    /// <summary>The controller's broker id as the store records it (waits, bounded, while there is none).</summary>
    public async Task<int> ControllerIdAsync()
    {
        var kv = await WaitForAsync(() => Store.GetAsync(Keys.Controller, CancellationToken.None), kv => kv is not null);
        return kv is null ? -1 : int.Parse(Encoding.UTF8.GetString(kv.Value), CultureInfo.InvariantCulture);
    }

    /// <summary>A partition's state as the store records it, or null when it has none (yet).</summary>
    public async Task<Broker.Replication.PartitionState?> PartitionStateAsync(string topic, int partition)
    {
        var kv = await Store.GetAsync(Keys.Partition(topic, partition), CancellationToken.None);
        return kv is null ? null : ClusterJson.DecodePartition(kv.Value);
    }

    /// <summary>Metadata v12 for all topics, asked of broker <paramref name="id"/>.</summary>
    public async Task<MetadataResponse> MetadataAsync(int id, params string[] topics)
    {
        using var connection = await RawConnection.OpenAsync(System.Net.IPAddress.Parse(HostOf(id)), Brokers[id].Port);
        var request = new MetadataRequest { Topics = topics.Length == 0 ? null : [.. topics.Select(t => new MetadataRequest.MetadataRequestTopic { Name = t })] };
        return await connection.RequestAsync<MetadataResponse>(ApiKey.Metadata, 12, request, TimeSpan.FromSeconds(10));
    }

    /// <summary>The partition directories of <paramref name="topic"/> in broker <paramref name="id"/>'s data directory.</summary>
    public string[] PartitionDirectories(int id, string topic) =>
        [.. Directory.GetDirectories(DataDirectory(id), topic + "-*").Select(Path.GetFileName).Where(n => int.TryParse(n![(topic.Length + 1)..], out _)).Order(StringComparer.Ordinal)!];

    /// <summary>
    /// Broker <paramref name="id"/>'s copy of the partition: its segment files' valid batches, oldest first, concatenated
    /// (trailing zeroes of a torn or preallocated tail cut).
    /// </summary>
    public byte[] LogBytes(int id, string topic, int partition = 0)
    {
        string directory = Path.Combine(DataDirectory(id), $"{topic}-{partition}");
        if (!Directory.Exists(directory))
        {
            return [];
        }

        var bytes = new List<byte>();
        foreach (string file in Directory.GetFiles(directory, "*.log").Order(StringComparer.Ordinal))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var content = new byte[stream.Length];
            stream.ReadExactly(content);
            bytes.AddRange(TestKit.Batches.Split(ValidPrefix(content)).SelectMany(b => b.Bytes));
        }

        return [.. bytes];
    }

    private static ReadOnlySpan<byte> ValidPrefix(byte[] content)
    {
        int length = 0;
        while (Protocol.Records.RecordBatch.Validate(content.AsSpan(length), out _, out int size) == Protocol.Records.BatchValidation.Valid)
        {
            length += size;
        }

        return content.AsSpan(0, length);
    }

    /// <summary>Polls every 100 ms for at most 30 s; returns the last value read (the assertion after it reports a miss).</summary>
    public static async Task<T> WaitForAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var value = await read();
        for (var attempt = 0; attempt < 300 && !done(value); attempt++)
        {
            await Task.Delay(100);
            value = await read();
        }

        return value;
    }

    /// <summary>As <see cref="WaitForAsync{T}"/> for a synchronous read.</summary>
    public static Task<T> WaitForSync<T>(Func<T> read, Func<T, bool> done) => WaitForAsync(() => Task.FromResult(read()), done);

    public async ValueTask DisposeAsync()
    {
        foreach (var broker in Brokers.Values)
        {
            await broker.DisposeAsync();
        }

        if (Store is not null)
        {
            await Store.DisposeAsync();
        }

        if (_etcd is not null)
        {
            await _etcd.DisposeAsync();
        }

        _dirs.Dispose();
    }
}
