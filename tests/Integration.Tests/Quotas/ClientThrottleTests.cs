using System.Diagnostics;
using LogBroker.Client.Admin;
using LogBroker.Client.Producer;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;

namespace LogBroker.Integration.Tests.Quotas;

/// <summary>
/// Our producer against a real broker with a 1 MB/s producer quota, through a proxy that records every frame:
/// its rate comes down to about the quota, and after each throttled response it sends nothing to the broker
/// for the throttle time (KIP-219: the client holds back as well as the broker muting).
/// </summary>
public sealed class ClientThrottleTests : IAsyncDisposable
{
    private const double Quota = 1024 * 1024;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(8);

    private readonly OwnedBroker _owned = new("cthrottle");
    private FrameRecordingProxy? _proxy;

    private BrokerProcess Broker => _owned.Process;

    public async ValueTask DisposeAsync()
    {
        if (_proxy is not null)
        {
            await _proxy.DisposeAsync();
        }

        await _owned.DisposeAsync();
    }

    [Fact]
    public async Task Our_producer_converges_to_its_quota_and_sends_nothing_while_throttled()
    {
        int port = BrokerProcess.FreePort();
        _proxy = new FrameRecordingProxy(port);
        // The broker advertises the proxy, so every connection the client makes goes through it.
        await _owned.StartAsync(port, $"--Broker:AdvertisedPort={_proxy.Port}");
        string bootstrap = $"127.0.0.1:{_proxy.Port}";
        string topic = BrokerFixture.UniqueTopic("cthrottle");
        CancellationToken ct = TestContext.Current.CancellationToken;
        await using (var admin = new AdminClient(new AdminOptions { BootstrapServers = bootstrap }))
        {
            await admin.CreateTopicsAsync([new NewTopic(topic, 1)], ct);
        }

        await QuotaSetup.SetClientQuotaAsync(port, "throttled", "producer_byte_rate", Quota);

        double rate;
        await using (var producer = new KafkaProducer(new ProducerOptions { BootstrapServers = bootstrap, ClientId = "throttled", Acks = Acks.Leader, EnableIdempotence = false }))
        {
            byte[] value = new byte[10 * 1024];
            var outstanding = new Queue<Task<DeliveryResult>>();
            long delivered = 0;
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < 1_000_000 && clock.Elapsed < Duration; i++)
            {
                outstanding.Enqueue(producer.ProduceAsync(topic, new ProducerRecord(null, value), ct).AsTask());
                while (outstanding.Count >= 200 || (outstanding.Count > 0 && outstanding.Peek().IsCompleted))
                {
                    await outstanding.Dequeue();
                    delivered += value.Length;
                }
            }

            rate = delivered / clock.Elapsed.TotalSeconds;
            await Task.WhenAll(outstanding);
        }

        (int throttled, int violations, string first) = Check(_proxy.Frames.ToArray());
        TestContext.Current.TestOutputHelper?.WriteLine($"rate {rate / Quota:F2} MB/s; {throttled} throttled produce responses; {violations} requests sent inside a throttle window {first}");
        Assert.InRange(rate, 0.4 * Quota, 2.5 * Quota);
        Assert.True(throttled > 0, "no produce response carried a throttle");
        Assert.Equal(0, violations);
    }

    /// <summary>
    /// Throttled Produce responses seen, and client frames that passed the proxy inside one of their windows
    /// (after the response passed, before its throttle time was over, 5 ms of timer slack at the end).
    /// </summary>
    private static (int Throttled, int Violations, string First) Check(FrameRecordingProxy.Frame[] frames)
    {
        var requests = new Dictionary<(int, int), (ApiKey Key, short Version)>();
        var windows = new List<(int Connection, long From, long To)>();
        foreach (FrameRecordingProxy.Frame frame in frames)
        {
            if (frame.FromClient)
            {
                var reader = new KafkaReader(frame.Bytes);
                RequestHeader header = RequestHeader.Read(ref reader);
                requests[(frame.Connection, header.CorrelationId)] = ((ApiKey)header.ApiKey, header.ApiVersion);
                continue;
            }

            int correlation = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(frame.Bytes);
            if (!requests.TryGetValue((frame.Connection, correlation), out (ApiKey Key, short Version) request) || request.Key != ApiKey.Produce)
            {
                continue;
            }

            var body = new KafkaReader(frame.Bytes.AsSpan(4));
            if (ApiMessages.ResponseHeaderHasTaggedFields(request.Key, request.Version))
            {
                body.SkipTaggedFields();
            }

            var response = new ProduceResponse();
            response.Read(ref body, request.Version);
            if (response.ThrottleTimeMs > 0)
            {
                long ticks = (response.ThrottleTimeMs - 5) * Stopwatch.Frequency / 1000;
                windows.Add((frame.Connection, frame.At, frame.At + ticks));
            }
        }

        int violations = 0;
        string first = "";
        foreach (FrameRecordingProxy.Frame frame in frames)
        {
            if (!frame.FromClient)
            {
                continue;
            }

            foreach ((int connection, long from, long to) in windows)
            {
                if (frame.Connection == connection && frame.At > from && frame.At < to)
                {
                    if (violations++ == 0)
                    {
                        first = $"(first {(frame.At - from) * 1000.0 / Stopwatch.Frequency:F1} ms into a {(to - from) * 1000.0 / Stopwatch.Frequency:F0} ms window)";
                    }

                    break;
                }
            }
        }

        return (windows.Count, violations, first);
    }
}
