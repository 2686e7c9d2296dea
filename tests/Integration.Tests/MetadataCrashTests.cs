using System.Globalization;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;
using ErrorCode = LogBroker.Protocol.ErrorCode;

namespace LogBroker.Integration.Tests;

/// <summary>
/// kill -9 of a real broker process at random points while topics are created or deleted and while
/// producer ids are handed out, then a restart and a check of the invariants: a topic is fully there
/// (every partition, its data) or fully gone (no metadata, no directory), an acknowledged change
/// survives, a deleted topic never comes back, a producer id is never handed out twice.
/// </summary>
/// <remarks>
/// A few kills per case here; <c>tools/crash-soak.sh</c> runs the same cases with more
/// (<c>LOGBROKER_CRASH_KILLS</c>, default 3). The random seed is printed so that a failure can be rerun
/// (<c>LOGBROKER_CRASH_SEED</c>).
/// </remarks>
public sealed partial class MetadataCrashTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static int Kills => int.TryParse(Environment.GetEnvironmentVariable("LOGBROKER_CRASH_KILLS"), CultureInfo.InvariantCulture, out int n) && n > 0 ? n : 3;

    [Fact]
    public async Task Creation_killed_at_random_points_leaves_every_topic_fully_there_or_fully_gone()
    {
        const int Partitions = 50;
        Random random = Seeded();
        using var data = new TempDirectory("crash-create");
        int port = BrokerProcess.FreePort();
        var existing = new Dictionary<string, bool>(StringComparer.Ordinal);
        BrokerProcess broker = await BrokerProcess.StartAsync(data.Path, port);
        try
        {
            for (int kill = 0; kill < Kills; kill++)
            {
                var acknowledged = new List<string>();
                var sent = new List<string>();
                Task creating = Task.Run(async () =>
                {
                    using RawConnection connection = await RawConnection.OpenAsync(port);
                    for (int j = 0; ; j++)
                    {
                        string name = $"c{kill}x{j}";
                        lock (sent)
                        {
                            sent.Add(name);
                        }

                        CreateTopicsResponse response = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
                        {
                            Topics = [new CreateTopicsRequest.CreatableTopic { Name = name, NumPartitions = Partitions, ReplicationFactor = 1 }],
                            timeoutMs = 30_000,
                        }, Patience);
                        Assert.Equal((short)ErrorCode.None, response.Topics[0].ErrorCode);
                        lock (acknowledged)
                        {
                            acknowledged.Add(name);
                        }
                    }
                }, TestContext.Current.CancellationToken);

                await Task.Delay(random.Next(50, 1500), TestContext.Current.CancellationToken);
                Assert.False(broker.HasExited, "the broker died by itself");
                await broker.KillAsync();
                Exception cut = await Assert.ThrowsAnyAsync<Exception>(() => creating);
                Assert.False(cut is Xunit.Sdk.XunitException, cut.Message);
                await broker.DisposeAsync();
                broker = await BrokerProcess.StartAsync(data.Path, port);

                using RawConnection check = await RawConnection.OpenAsync(port);
                foreach (string name in sent)
                {
                    int partitions = await PartitionCountAsync(check, name);
                    Assert.True(partitions is 0 or Partitions, $"{name} came back with {partitions} of {Partitions} partitions");
                    Assert.Equal(partitions, Directories(data.Path, name));
                    existing[name] = partitions > 0;
                }

                Assert.All(acknowledged, name => Assert.True(existing[name], $"acknowledged {name} is gone"));
                TestContext.Current.TestOutputHelper?.WriteLine(
                    $"kill {kill}: {sent.Count} sent, {acknowledged.Count} acknowledged, {sent.Count(n => existing[n])} there after the restart");
                foreach ((string name, bool exists) in existing)
                {
                    Assert.Equal(exists, await PartitionCountAsync(check, name) > 0);
                }
            }
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    [Fact]
    public async Task Deletion_killed_at_random_points_leaves_every_topic_fully_there_with_its_data_or_fully_gone_for_good()
    {
        const int Partitions = 30;
        const int Topics = 4;
        Random random = Seeded();
        using var data = new TempDirectory("crash-delete");
        int port = BrokerProcess.FreePort();
        var gone = new List<string>();
        BrokerProcess broker = await BrokerProcess.StartAsync(data.Path, port);
        try
        {
            for (int kill = 0; kill < Kills; kill++)
            {
                string[] names = [.. Enumerable.Range(0, Topics).Select(j => $"d{kill}x{j}")];
                using (RawConnection setup = await RawConnection.OpenAsync(port))
                {
                    CreateTopicsResponse created = await setup.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
                    {
                        Topics = [.. names.Select(n => new CreateTopicsRequest.CreatableTopic { Name = n, NumPartitions = Partitions, ReplicationFactor = 1 })],
                        timeoutMs = 30_000,
                    }, Patience);
                    Assert.All(created.Topics, t => Assert.Equal((short)ErrorCode.None, t.ErrorCode));
                }

                await ProduceOneIntoEachAsync(broker.Bootstrap, names, Partitions);
                var deleted = new List<string>();
                Task deleting = Task.Run(async () =>
                {
                    using RawConnection connection = await RawConnection.OpenAsync(port);
                    foreach (string name in names)
                    {
                        DeleteTopicsResponse response = await connection.RequestAsync<DeleteTopicsResponse>(ApiKey.DeleteTopics, 4,
                            new DeleteTopicsRequest { TopicNames = [name], TimeoutMs = 30_000 }, Patience);
                        Assert.Equal((short)ErrorCode.None, response.Responses[0].ErrorCode);
                        lock (deleted)
                        {
                            deleted.Add(name);
                        }
                    }
                }, TestContext.Current.CancellationToken);

                await Task.Delay(random.Next(0, 120), TestContext.Current.CancellationToken);
                Assert.False(broker.HasExited, "the broker died by itself");
                await broker.KillAsync();
                try
                {
                    await deleting;
                }
                catch (Exception e) when (e is IOException or OperationCanceledException or System.Net.Sockets.SocketException or EndOfStreamException)
                {
                }

                await broker.DisposeAsync();
                broker = await BrokerProcess.StartAsync(data.Path, port);
                await CheckAsync(broker, names);
                TestContext.Current.TestOutputHelper?.WriteLine(
                    $"kill {kill}: {deleted.Count} of {names.Length} deletions acknowledged, {names.Count(gone.Contains)} gone after the restart");

                // And again after a clean restart: nothing deleted comes back, nothing there goes.
                await broker.TerminateAsync();
                await broker.DisposeAsync();
                broker = await BrokerProcess.StartAsync(data.Path, port);
                await CheckAsync(broker, names);
            }
        }
        finally
        {
            await broker.DisposeAsync();
        }

        async Task CheckAsync(BrokerProcess running, string[] names)
        {
            using RawConnection check = await RawConnection.OpenAsync(port);
            foreach (string name in names)
            {
                int partitions = await PartitionCountAsync(check, name);
                Assert.True(partitions is 0 or Partitions, $"{name} came back with {partitions} of {Partitions} partitions");
                Assert.Equal(partitions, Directories(data.Path, name));
                if (partitions > 0)
                {
                    Assert.DoesNotContain(name, gone);
                    await AssertOneRecordInEachAsync(running.Bootstrap, name, Partitions);
                }
                else if (!gone.Contains(name))
                {
                    gone.Add(name);
                }
            }

            foreach (string name in gone)
            {
                Assert.Equal(0, await PartitionCountAsync(check, name));
                Assert.Equal(0, Directories(data.Path, name));
            }
        }
    }

    [Fact]
    public async Task Producer_ids_are_never_handed_out_twice_across_kills()
    {
        Random random = Seeded();
        using var data = new TempDirectory("crash-pid");
        int port = BrokerProcess.FreePort();
        var seen = new HashSet<long>();
        BrokerProcess broker = await BrokerProcess.StartAsync(data.Path, port);
        try
        {
            for (int kill = 0; kill <= Kills; kill++)
            {
                var received = new List<long>();
                using var stop = new CancellationTokenSource();
                Task asking = Task.Run(async () =>
                {
                    using RawConnection connection = await RawConnection.OpenAsync(port);
                    while (!stop.IsCancellationRequested)
                    {
                        InitProducerIdResponse response = await connection.RequestAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 3,
                            new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = 60_000, ProducerId = -1, ProducerEpoch = -1 }, Patience);
                        Assert.Equal((short)ErrorCode.None, response.ErrorCode);
                        lock (received)
                        {
                            received.Add(response.ProducerId);
                        }
                    }
                }, TestContext.Current.CancellationToken);

                await Task.Delay(random.Next(100, 1500), TestContext.Current.CancellationToken);
                if (kill == Kills)
                {
                    await stop.CancelAsync(); // the last round ends cleanly, so the test sees ids after the last restart too
                    await asking;
                }
                else
                {
                    Assert.False(broker.HasExited, "the broker died by itself");
                    await broker.KillAsync();
                    Exception cut = await Assert.ThrowsAnyAsync<Exception>(() => asking);
                    Assert.False(cut is Xunit.Sdk.XunitException, cut.Message);
                    await broker.DisposeAsync();
                    broker = await BrokerProcess.StartAsync(data.Path, port);
                }

                lock (received)
                {
                    TestContext.Current.TestOutputHelper?.WriteLine($"round {kill}: {received.Count} ids, {received.Min()}..{received.Max()}");
                    Assert.NotEmpty(received);
                    foreach (long id in received)
                    {
                        Assert.True(seen.Add(id), $"producer id {id} was handed out twice");
                    }
                }
            }
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    private static Random Seeded()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("LOGBROKER_CRASH_SEED"), CultureInfo.InvariantCulture, out int s) ? s : Environment.TickCount;
        TestContext.Current.TestOutputHelper?.WriteLine($"LOGBROKER_CRASH_SEED={seed} LOGBROKER_CRASH_KILLS={Kills}");
        return new Random(seed);
    }

    private static async Task<int> PartitionCountAsync(RawConnection connection, string name)
    {
        MetadataResponse response = await connection.RequestAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest
        {
            Topics = [new MetadataRequest.MetadataRequestTopic { Name = name }],
            AllowAutoTopicCreation = false,
        }, Patience);
        MetadataResponse.MetadataResponseTopic topic = response.Topics.Single();
        return topic.ErrorCode == (short)ErrorCode.UnknownTopicOrPartition ? 0 : topic.ErrorCode == 0 ? topic.Partitions.Count
            : throw new InvalidOperationException($"Metadata of {name}: error {topic.ErrorCode}");
    }

    /// <summary>How many partition directories of <paramref name="topic"/> the data directory holds (after a start, strays are gone).</summary>
    private static int Directories(string dataDirectory, string topic)
    {
        int count = 0;
        foreach (string directory in Directory.EnumerateDirectories(dataDirectory))
        {
            string name = Path.GetFileName(directory);
            if (name.StartsWith(topic + "-", StringComparison.Ordinal) && PartitionSuffix().IsMatch(name.AsSpan(topic.Length)))
            {
                count++;
            }
        }

        return count;
    }

    private static async Task ProduceOneIntoEachAsync(string bootstrap, string[] topics, int partitions)
    {
        using IProducer<Null, string> producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = bootstrap, Acks = Acks.All })
            .SetLogHandler((_, _) => { }).Build();
        var sends = new List<Task>();
        foreach (string topic in topics)
        {
            for (int p = 0; p < partitions; p++)
            {
                sends.Add(producer.ProduceAsync(new Confluent.Kafka.TopicPartition(topic, p), new Message<Null, string> { Value = $"{topic}/{p}" }));
            }
        }

        await Task.WhenAll(sends).WaitAsync(Patience);
    }

    private static Task AssertOneRecordInEachAsync(string bootstrap, string topic, int partitions)
    {
        using IConsumer<Null, string> consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "crash-check" })
            .SetLogHandler((_, _) => { }).Build();
        for (int p = 0; p < partitions; p++)
        {
            WatermarkOffsets offsets = consumer.QueryWatermarkOffsets(new Confluent.Kafka.TopicPartition(topic, p), Patience);
            Assert.Equal(1, offsets.High.Value - offsets.Low.Value);
        }

        return Task.CompletedTask;
    }

    [GeneratedRegex(@"^-\d+$")]
    private static partial Regex PartitionSuffix();
}
