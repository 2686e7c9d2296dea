using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using LogBroker.Broker.Network;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests;

/// <summary>
/// The broker's budgets against requests that cost little to send and much to answer: each test gives
/// its own broker the limit under test and checks, from outside, that the limit holds.
/// </summary>
public sealed class ResourceBoundTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_fetch_naming_one_partition_4000_times_is_answered_once_and_costs_the_broker_little()
    {
        using var data = new TempDirectory("bounds");
        await using BrokerProcess broker = await BrokerProcess.StartAsync(data.Path, BrokerProcess.FreePort());
        string topic = BrokerFixture.UniqueTopic("dup-fetch");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await Raw.CreateTopicAsync(connection, topic, 1);
        long stored = await Raw.FillAsync(connection, topic, 0, megabytes: 2);

        long peakBefore = broker.StatusKiB("VmHWM");
        var fetch = new FetchRequest
        {
            MaxWaitMs = 0,
            MinBytes = 1,
            MaxBytes = int.MaxValue,
            Topics = [new FetchRequest.FetchTopic { Topic = topic, Partitions = [.. Enumerable.Repeat(0, 4000).Select(_ => Raw.At(0, 0))] }],
        };
        FetchResponse response = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 4, fetch, Patience);

        FetchResponse.PartitionData only = Assert.Single(Assert.Single(response.Responses).Partitions);
        Assert.Equal(stored, only.Records!.Value.Length);
        long grownMiB = (broker.StatusKiB("VmHWM") - peakBefore) / 1024;
        Assert.True(grownMiB < 128, $"the broker's peak RSS grew by {grownMiB} MiB answering one fetch of 2 MB of data");
    }

    [Fact]
    public async Task Sixty_four_pipelined_fetches_left_unread_keep_the_broker_memory_bounded()
    {
        using var data = new TempDirectory("bounds");
        await using BrokerProcess broker = await BrokerProcess.StartAsync(data.Path, BrokerProcess.FreePort());
        string topic = BrokerFixture.UniqueTopic("pipelined");
        using (RawConnection setup = await RawConnection.OpenAsync(broker.Port))
        {
            await Raw.CreateTopicAsync(setup, topic, 1);
            await Raw.FillAsync(setup, topic, 0, megabytes: 20);
        }

        long anonBefore = broker.StatusKiB("RssAnon");
        using RawConnection reader = await RawConnection.OpenAsync(broker.Port);
        for (int i = 0; i < 64; i++)
        {
            await reader.SendRequestAsync(ApiKey.Fetch, 4, 1000 + i, Raw.FetchAll(topic, 0));
        }

        // Nothing is read for a while: the broker must not buffer 64 × 20 MB of responses meanwhile.
        await Task.Delay(TimeSpan.FromSeconds(3), TestContext.Current.CancellationToken);
        long grownMiB = (broker.StatusKiB("RssAnon") - anonBefore) / 1024;
        Assert.True(grownMiB < 256, $"anonymous memory grew by {grownMiB} MiB with 64 × 20 MB of fetch responses unread");

        for (int i = 0; i < 64; i++)
        {
            (int id, byte[] frame) = await reader.ReceiveWithIdAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(1000 + i, id);
            Assert.True(frame.Length > 20_000_000, $"response {i} has {frame.Length} bytes");
        }
    }

    [Fact]
    public async Task A_client_that_stops_reading_is_disconnected_after_the_write_timeout_while_others_are_served()
    {
        await using var broker = await Raw.StartAsync("--Broker:WriteTimeout=00:00:02");
        string topic = BrokerFixture.UniqueTopic("stalled");
        using (RawConnection setup = await RawConnection.OpenAsync(broker.Port))
        {
            await Raw.CreateTopicAsync(setup, topic, 1);
            await Raw.FillAsync(setup, topic, 0, megabytes: 8);
        }

        BrokerListener listener = broker.Service<BrokerListener>();
        await Raw.EventuallyAsync(() => listener.OpenConnections == 0, "the set-up connection to close");

        using var stalled = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 16 * 1024 };
        await stalled.ConnectAsync(IPAddress.Loopback, broker.Port, TestContext.Current.CancellationToken);
        byte[] fetch = Raw.Frame(ApiKey.Fetch, 4, 1, Raw.FetchAll(topic, 0));
        for (int i = 0; i < 32; i++)
        {
            await stalled.SendAsync(fetch, TestContext.Current.CancellationToken);
        }

        using RawConnection bystander = await RawConnection.OpenAsync(broker.Port);
        await bystander.RequestAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest(), Patience);
        Assert.Equal(2, listener.OpenConnections);

        // The stalled client's connection goes once a send has waited the write timeout; the bystander's stays.
        await Raw.EventuallyAsync(() => listener.OpenConnections == 1, "the stalled connection to be closed");
        await bystander.RequestAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest(), Patience);
    }

    [Fact]
    public async Task A_thousand_parked_fetches_whose_clients_vanish_give_their_connection_slots_back()
    {
        await using var broker = await Raw.StartAsync("--Broker:MaxConnections=1000", "--Broker:MaxConnectionsPerIp=1000");
        string topic = BrokerFixture.UniqueTopic("vanish");
        using (RawConnection setup = await RawConnection.OpenAsync(broker.Port))
        {
            await Raw.CreateTopicAsync(setup, topic, 1);
        }

        BrokerListener listener = broker.Service<BrokerListener>();
        var parked = new List<RawConnection>();
        try
        {
            for (int i = 0; i < 1000; i++)
            {
                RawConnection c = await RawConnection.OpenAsync(broker.Port);
                parked.Add(c);
                await c.SendRequestAsync(ApiKey.Fetch, 4, 1, new FetchRequest
                {
                    MaxWaitMs = int.MaxValue,
                    MinBytes = int.MaxValue,
                    MaxBytes = 1,
                    Topics = [new FetchRequest.FetchTopic { Topic = topic, Partitions = [Raw.At(0, 0)] }],
                });
            }

            await Raw.EventuallyAsync(() => listener.OpenConnections == 1000, "every parked connection to be open");
        }
        finally
        {
            parked.ForEach(c => c.Dispose());
        }

        await Raw.EventuallyAsync(() => listener.OpenConnections == 0, "the slots of the vanished clients to be given back");
        using RawConnection next = await RawConnection.OpenAsync(broker.Port);
        await next.RequestAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest(), Patience);
    }

    [Fact]
    public async Task A_fetch_asking_to_wait_for_ever_is_answered_at_the_broker_cap()
    {
        await using var broker = await Raw.StartAsync("--Broker:FetchMaxWait=00:00:01");
        string topic = BrokerFixture.UniqueTopic("wait");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await Raw.CreateTopicAsync(connection, topic, 1);

        FetchResponse response = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 4, new FetchRequest
        {
            MaxWaitMs = int.MaxValue,
            MinBytes = int.MaxValue,
            MaxBytes = int.MaxValue,
            Topics = [new FetchRequest.FetchTopic { Topic = topic, Partitions = [Raw.At(0, 0)] }],
        }, Patience);

        Assert.Equal(0, response.Responses[0].Partitions[0].ErrorCode);
    }

    [Fact]
    public async Task The_broker_fetch_max_bytes_clamps_what_a_request_asks_for()
    {
        await using var broker = await Raw.StartAsync("--Broker:FetchMaxBytes=1048576");
        string topic = BrokerFixture.UniqueTopic("clamp");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await Raw.CreateTopicAsync(connection, topic, 4);
        for (int p = 0; p < 4; p++)
        {
            await Raw.ProduceAsync(connection, topic, p, Batches.Create(600, 1000));
        }

        FetchResponse response = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 4, new FetchRequest
        {
            MaxWaitMs = 0,
            MinBytes = 1,
            MaxBytes = int.MaxValue,
            Topics = [new FetchRequest.FetchTopic { Topic = topic, Partitions = [Raw.At(0, 0), Raw.At(1, 0), Raw.At(2, 0), Raw.At(3, 0)] }],
        }, Patience);

        long total = response.Responses[0].Partitions.Sum(p => (long)(p.Records?.Length ?? 0));
        Assert.InRange(total, 600_000, 1024 * 1024);
    }

    [Fact]
    public async Task Bytes_trickled_into_a_frame_do_not_keep_the_connection_open()
    {
        await using var broker = await Raw.StartAsync("--Broker:RequestReadTimeout=00:00:02");
        using var slow = new TcpClient();
        await slow.ConnectAsync(IPAddress.Loopback, broker.Port, TestContext.Current.CancellationToken);
        NetworkStream stream = slow.GetStream();
        await stream.WriteAsync(new byte[] { 0, 0, 0, 100 }, TestContext.Current.CancellationToken);
        var clock = Stopwatch.StartNew();
        bool closed = false;
        while (clock.Elapsed < Patience && !closed)
        {
            try
            {
                await stream.WriteAsync(new byte[] { 0 }, TestContext.Current.CancellationToken);
                await Task.Delay(250, TestContext.Current.CancellationToken);
                closed = slow.Client.Poll(0, SelectMode.SelectRead) && slow.Available == 0;
            }
            catch (IOException)
            {
                closed = true;
            }
        }

        Assert.True(closed, "a connection trickling one byte every 250 ms into a frame must be closed at the request-read timeout");
    }

    [Fact]
    public async Task Connections_from_one_address_are_capped()
    {
        await using var broker = await Raw.StartAsync("--Broker:MaxConnectionsPerIp=3");
        var open = new List<RawConnection>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                RawConnection c = await RawConnection.OpenAsync(broker.Port);
                open.Add(c);
                await c.RequestAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest(), Patience);
            }

            using RawConnection fourth = await RawConnection.OpenAsync(broker.Port);
            Assert.True(await fourth.IsClosedByPeerAsync(Patience), "the fourth connection from 127.0.0.1 must be refused");

            open[0].Dispose();
            open.RemoveAt(0);
            BrokerListener listener = broker.Service<BrokerListener>();
            await Raw.EventuallyAsync(() => listener.OpenConnections == 2, "the closed connection's slot to come back");
            using RawConnection again = await RawConnection.OpenAsync(broker.Port);
            await again.RequestAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest(), Patience);
        }
        finally
        {
            open.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task When_the_request_budget_is_spent_a_connection_waits_until_bytes_come_back()
    {
        await using var broker = await Raw.StartAsync("--Broker:QueuedMaxRequestBytes=1048576");
        string topic = BrokerFixture.UniqueTopic("budget");
        using RawConnection parked = await RawConnection.OpenAsync(broker.Port);
        await Raw.CreateTopicAsync(parked, topic, 1);

        // A fetch padded to 900 KB (trailing bytes are tolerated) parks for 3 s, holding its 900 KB.
        byte[] padded = Raw.Frame(ApiKey.Fetch, 4, 7, new FetchRequest
        {
            MaxWaitMs = 3000,
            MinBytes = 1,
            MaxBytes = 1024,
            Topics = [new FetchRequest.FetchTopic { Topic = topic, Partitions = [Raw.At(0, 0)] }],
        }, padding: 900 * 1024);
        await parked.SendRawAsync(padded);
        await Task.Delay(300, TestContext.Current.CancellationToken);

        // 300 KB more do not fit in the 1 MiB budget until the fetch has been answered.
        using RawConnection second = await RawConnection.OpenAsync(broker.Port);
        var clock = Stopwatch.StartNew();
        await second.SendRawAsync(Raw.Frame(ApiKey.ApiVersions, 3, 8, new ApiVersionsRequest(), padding: 300 * 1024));
        (int id, _) = await second.ReceiveWithIdAsync(Patience);
        TimeSpan waited = clock.Elapsed;

        Assert.Equal(8, id);
        Assert.True(waited > TimeSpan.FromSeconds(1.5), $"answered after {waited}: the budget did not hold it back");
        (int fetchId, _) = await parked.ReceiveWithIdAsync(Patience);
        Assert.Equal(7, fetchId);
    }
}

/// <summary>Raw-frame helpers for the bound tests.</summary>
internal static class Raw
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    /// <summary>An in-process broker host with extra settings; dispose it to stop it.</summary>
    public static async Task<OwnedBroker> StartAsync(params string[] settings)
    {
        var fixture = new BrokerFixture { Settings = settings };
        await fixture.InitializeAsync();
        return new OwnedBroker(fixture);
    }

    public static FetchRequest.FetchPartition At(int partition, long offset) =>
        new() { Partition = partition, FetchOffset = offset, PartitionMaxBytes = int.MaxValue };

    public static FetchRequest FetchAll(string topic, int partition) => new()
    {
        MaxWaitMs = 0,
        MinBytes = 1,
        MaxBytes = int.MaxValue,
        Topics = [new FetchRequest.FetchTopic { Topic = topic, Partitions = [At(partition, 0)] }],
    };

    public static async Task CreateTopicAsync(RawConnection connection, string topic, int partitions)
    {
        CreateTopicsResponse created = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
        {
            Topics = [new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = partitions, ReplicationFactor = 1 }],
        }, Patience);
        Assert.Equal(0, created.Topics[0].ErrorCode);
    }

    public static async Task<ProduceResponse> ProduceAsync(RawConnection connection, string topic, int partition, byte[] batch, bool expectSuccess = true)
    {
        ProduceResponse response = await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, new ProduceRequest
        {
            Acks = 1,
            TimeoutMs = 5000,
            TopicData = [new ProduceRequest.TopicProduceData { Name = topic, PartitionData = [new ProduceRequest.PartitionProduceData { Index = partition, Records = batch }] }],
        }, Patience);
        if (expectSuccess)
        {
            Assert.Equal(0, response.Responses[0].PartitionResponses[0].ErrorCode);
        }

        return response;
    }

    /// <summary>Produces about <paramref name="megabytes"/> MB in batches of ~900 KB; returns the bytes stored.</summary>
    public static async Task<long> FillAsync(RawConnection connection, string topic, int partition, int megabytes)
    {
        long stored = 0;
        while (stored < megabytes * 1_000_000L)
        {
            byte[] batch = Batches.Create(900, 1000);
            await ProduceAsync(connection, topic, partition, batch);
            stored += batch.Length;
        }

        return stored;
    }

    /// <summary>A whole request frame (size prefix included), optionally followed by <paramref name="padding"/> zero bytes.</summary>
    public static byte[] Frame(ApiKey key, short version, int correlation, IKafkaMessage request, int padding = 0) =>
        RequestFrames.Encode(key, version, correlation, request, padding: padding);

    public static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < Patience, $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }
}

/// <summary>A broker host owned by one test.</summary>
internal sealed class OwnedBroker(BrokerFixture fixture) : IAsyncDisposable
{
    public int Port => fixture.Port;

    public T Service<T>() where T : notnull => fixture.Service<T>();

    public ValueTask DisposeAsync() => fixture.DisposeAsync();
}
