using System.Diagnostics;
using Confluent.Kafka;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests.Quotas;

/// <summary>
/// A producer byte-rate quota on a real broker process, set through AlterClientQuotas and enforced on
/// Confluent.Kafka producers: the limited client id is held near its 1 MB/s, another one at the same time is not.
/// </summary>
public sealed class ProduceQuotaTests : IAsyncDisposable
{
    private const double Quota = 1024 * 1024;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(10);

    private readonly OwnedBroker _owned = new("quota");

    private BrokerProcess Broker => _owned.Process;

    public ValueTask DisposeAsync() => _owned.DisposeAsync();

    [Fact]
    public async Task A_one_MB_per_second_producer_quota_holds_one_client_id_and_not_another()
    {
        await _owned.StartAsync(BrokerProcess.FreePort());
        string topic = BrokerFixture.UniqueTopic("quota");
        await QuotaSetup.CreateTopicAsync(Broker.Bootstrap, topic);

        await QuotaSetup.SetClientQuotaAsync(Broker.Port, "limited", "producer_byte_rate", Quota);

        Task<(double Rate, int ThrottleMs)> limited = Task.Run(() => Produce(Broker.Bootstrap, topic, "limited"));
        Task<(double Rate, int ThrottleMs)> free = Task.Run(() => Produce(Broker.Bootstrap, topic, "free"));
        (double limitedRate, int limitedThrottle) = await limited;
        (double freeRate, int freeThrottle) = await free;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"limited: {limitedRate / Quota:F2} MB/s (then throttled {limitedThrottle} ms); free: {freeRate / Quota:F2} MB/s (then throttled {freeThrottle} ms)");

        // Kafka's sensor divides the first burst by ten whole windows, so a fresh client gets about 10 MB, then one
        // request (≤ 1 MB) per mute: some 14–15 MB in 10 s. More means requests got past a mute.
        Assert.InRange(limitedRate, 0.4 * Quota, 1.8 * Quota);
        Assert.True(limitedThrottle > 0, "the limited producer was never told to wait");
        Assert.Equal(0, freeThrottle);
        Assert.True(freeRate > 2 * limitedRate && freeRate > 2.5 * Quota, $"the free producer ran at {freeRate / Quota:F2} MB/s");
    }

    [Fact]
    public async Task Pipelined_produce_requests_past_the_quota_wait_out_the_throttle_even_when_already_sent()
    {
        // librdkafka keeps up to a million requests in flight on a connection: the frames behind the one that
        // crossed the quota are already in the broker's buffer when the throttle is decided, and must wait too.
        await _owned.StartAsync(BrokerProcess.FreePort());
        string topic = BrokerFixture.UniqueTopic("piped");
        const double quota = 3_000; // B/s: the first ten windows allow about 30 KB before any throttle
        await QuotaSetup.SetClientQuotaAsync(Broker.Port, "piped", "producer_byte_rate", quota);
        await QuotaSetup.CreateTopicAsync(Broker.Bootstrap, topic);
        using RawConnection raw = await RawConnection.OpenAsync(Broker.Port, "piped");
        const int requests = 100; // 100 × 1 KB in one write: three times what the quota lets through unthrottled
        var frames = new MemoryStream();
        for (int i = 1; i <= requests; i++)
        {
            frames.Write(RequestFrames.Encode(ApiKey.Produce, 9, i, RequestFrames.Produce(topic, 0, Batches.Create(1, 1000)), "piped"));
        }

        await raw.SendRawAsync(frames.ToArray());

        // Read until the first throttled response, then one more: that one must come no sooner than the throttle.
        var clock = Stopwatch.StartNew();
        int throttled = 0;
        int firstThrottle = 0;
        TimeSpan throttledAt = TimeSpan.Zero;
        for (int i = 1; i <= requests; i++)
        {
            (int correlation, byte[] frame) = await raw.ReceiveWithIdAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(i, correlation);
            ProduceResponse response = RawConnection.Decode<ProduceResponse>(ApiKey.Produce, 9, frame);
            Assert.Equal(0, Assert.Single(Assert.Single(response.Responses).PartitionResponses).ErrorCode);
            if (throttled > 0)
            {
                TimeSpan waited = clock.Elapsed - throttledAt;
                TestContext.Current.TestOutputHelper?.WriteLine(
                    $"request {throttled} throttled {firstThrottle} ms; the next answered {waited.TotalMilliseconds:F0} ms later");
                Assert.True(waited.TotalMilliseconds >= 0.5 * firstThrottle, $"request {i} was answered {waited.TotalMilliseconds:F0} ms after request {throttled} was throttled {firstThrottle} ms");
                return;
            }

            if (response.ThrottleTimeMs > 0)
            {
                throttled = i;
                firstThrottle = response.ThrottleTimeMs;
                throttledAt = clock.Elapsed;
            }
        }

        Assert.Fail($"none of {requests} requests of 1 KB against a quota of {quota} B/s was throttled");
    }

    /// <summary>Produces 10 KB records as fast as the producer takes them for <see cref="Duration"/>; the delivered rate in B/s, and the throttle time a small produce of the same client id gets right after.</summary>
    private static (double Rate, int ThrottleMs) Produce(string bootstrap, string topic, string clientId)
    {
        var config = new ProducerConfig
        {
            BootstrapServers = bootstrap,
            ClientId = clientId,
            Acks = Acks.Leader,
            LingerMs = 5,
            QueueBufferingMaxKbytes = 8 * 1024,
            StatisticsIntervalMs = 0,
        };
        using IProducer<Null, byte[]> producer = new ProducerBuilder<Null, byte[]>(config)
            .SetLogHandler((_, _) => { })
            .SetStatisticsHandler((_, _) => { })
            .Build();
        byte[] value = new byte[10 * 1024];
        long delivered = 0;
        Action<DeliveryReport<Null, byte[]>> onDelivered = report =>
        {
            if (report.Error.Code == Confluent.Kafka.ErrorCode.NoError)
            {
                Interlocked.Add(ref delivered, report.Message.Value.Length);
            }
        };
        var message = new Message<Null, byte[]> { Value = value };
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 10_000_000 && clock.Elapsed < Duration; i++)
        {
            try
            {
                producer.Produce(topic, message, onDelivered);
            }
            catch (ProduceException<Null, byte[]> e) when (e.Error.Code == Confluent.Kafka.ErrorCode.Local_QueueFull)
            {
                producer.Poll(TimeSpan.FromMilliseconds(5));
            }
        }

        producer.Poll(TimeSpan.Zero);
        double rate = Interlocked.Read(ref delivered) / clock.Elapsed.TotalSeconds;
        return (rate, ThrottleOf(bootstrap, topic, clientId));
    }

    /// <summary>The throttle time the broker now gives one more small produce from <paramref name="clientId"/>.</summary>
    private static int ThrottleOf(string bootstrap, string topic, string clientId)
    {
        int port = int.Parse(bootstrap[(bootstrap.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        using RawConnection raw = RawConnection.OpenAsync(port, clientId).GetAwaiter().GetResult();
        ProduceResponse response = raw.RequestAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce(topic, 0, Batches.Create(1)), TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        return response.ThrottleTimeMs;
    }
}
