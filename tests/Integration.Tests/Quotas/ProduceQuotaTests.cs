using System.Diagnostics;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
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

    private readonly TempDirectory _dir = new("quota");
    private BrokerProcess? _broker;

    public async ValueTask DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        _dir.Dispose();
    }

    [Fact]
    public async Task A_one_MB_per_second_producer_quota_holds_one_client_id_and_not_another()
    {
        _broker = await BrokerProcess.StartAsync(_dir.Path, BrokerProcess.FreePort());
        string topic = BrokerFixture.UniqueTopic("quota");
        using (IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.Bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
        }

        using (RawConnection raw = await RawConnection.OpenAsync(_broker.Port))
        {
            AlterClientQuotasResponse altered = await raw.RequestAsync<AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, 1, new AlterClientQuotasRequest
            {
                Entries =
                [
                    new AlterClientQuotasRequest.EntryData
                    {
                        Entity = [new AlterClientQuotasRequest.EntityData { EntityType = "client-id", EntityName = "limited" }],
                        Ops = [new AlterClientQuotasRequest.OpData { Key = "producer_byte_rate", Value = Quota }],
                    },
                ],
            }, TimeSpan.FromSeconds(10));
            Assert.Equal(0, Assert.Single(altered.Entries).ErrorCode);
        }

        Task<(double Rate, int ThrottleMs)> limited = Task.Run(() => Produce(_broker.Bootstrap, topic, "limited"));
        Task<(double Rate, int ThrottleMs)> free = Task.Run(() => Produce(_broker.Bootstrap, topic, "free"));
        (double limitedRate, int limitedThrottle) = await limited;
        (double freeRate, int freeThrottle) = await free;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"limited: {limitedRate / Quota:F2} MB/s (then throttled {limitedThrottle} ms); free: {freeRate / Quota:F2} MB/s (then throttled {freeThrottle} ms)");

        Assert.InRange(limitedRate, 0.4 * Quota, 2.5 * Quota);
        Assert.True(limitedThrottle > 0, "the limited producer was never told to wait");
        Assert.Equal(0, freeThrottle);
        Assert.True(freeRate > 2 * limitedRate && freeRate > 2.5 * Quota, $"the free producer ran at {freeRate / Quota:F2} MB/s");
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
        ProduceResponse response = raw.RequestAsync<ProduceResponse>(ApiKey.Produce, 9, new ProduceRequest
        {
            Acks = 1,
            TimeoutMs = 5000,
            TopicData =
            [
                new ProduceRequest.TopicProduceData
                {
                    Name = topic,
                    PartitionData = [new ProduceRequest.PartitionProduceData { Index = 0, Records = Batches.Create(1) }],
                },
            ],
        }, TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        return response.ThrottleTimeMs;
    }
}
