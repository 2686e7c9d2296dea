using System.Diagnostics;
using Confluent.Kafka;

namespace LogBroker.Integration.Tests.Quotas;

/// <summary>
/// A consumer byte-rate quota on a real broker process, enforced on Confluent.Kafka consumers reading the same
/// topic at the same time: the limited client id reads at about its 1 MB/s, the unlimited one far faster.
/// </summary>
public sealed class FetchQuotaTests : IAsyncDisposable
{
    private const double Quota = 1024 * 1024;
    private const int Records = 3000;
    private const int RecordBytes = 10 * 1024;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(10);

    private readonly OwnedBroker _owned = new("fquota");

    private BrokerProcess Broker => _owned.Process;

    public ValueTask DisposeAsync() => _owned.DisposeAsync();

    [Fact]
    public async Task A_one_MB_per_second_consumer_quota_holds_one_client_id_and_not_another()
    {
        await _owned.StartAsync(BrokerProcess.FreePort());
        string topic = BrokerFixture.UniqueTopic("fquota");
        await QuotaSetup.CreateTopicAsync(Broker.Bootstrap, topic);
        Fill(Broker.Bootstrap, topic);
        await QuotaSetup.SetClientQuotaAsync(Broker.Port, "limited", "consumer_byte_rate", Quota);

        Task<double> limited = Task.Run(() => Consume(Broker.Bootstrap, topic, "limited"));
        Task<double> free = Task.Run(() => Consume(Broker.Bootstrap, topic, "free"));
        double limitedRate = await limited;
        double freeRate = await free;
        TestContext.Current.TestOutputHelper?.WriteLine($"limited: {limitedRate / Quota:F2} MB/s; free: {freeRate / Quota:F2} MB/s");

        // The first window lets a burst of up to 10 × the quota through (Kafka's allowance): over 10 s that is
        // about 1-2 × the quota; the free consumer reads the whole topic (~29 MB) in a fraction of that time.
        Assert.InRange(limitedRate, 0.4 * Quota, 2.5 * Quota);
        Assert.True(freeRate > 3 * limitedRate && freeRate > 3 * Quota, $"the free consumer ran at {freeRate / Quota:F2} MB/s");
    }

    private static void Fill(string bootstrap, string topic)
    {
        using IProducer<Null, byte[]> producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            Acks = Acks.Leader,
            LingerMs = 5,
        }).SetLogHandler((_, _) => { }).Build();
        var message = new Message<Null, byte[]> { Value = new byte[RecordBytes] };
        for (int i = 0; i < Records; i++)
        {
            while (true)
            {
                try
                {
                    producer.Produce(topic, message);
                    break;
                }
                catch (ProduceException<Null, byte[]> e) when (e.Error.Code == Confluent.Kafka.ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(5));
                }
            }
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
    }

    /// <summary>Reads the topic from the start until all of it is read or <see cref="Duration"/> passes; the rate in B/s.</summary>
    private static double Consume(string bootstrap, string topic, string clientId)
    {
        using IConsumer<Ignore, byte[]> consumer = new ConsumerBuilder<Ignore, byte[]>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            ClientId = clientId,
            GroupId = "fquota-" + clientId,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        long bytes = 0;
        int records = 0;
        var clock = Stopwatch.StartNew();
        while (records < Records && clock.Elapsed < Duration)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { Message: { } message })
            {
                bytes += message.Value.Length;
                records++;
            }
        }

        return bytes / clock.Elapsed.TotalSeconds;
    }
}
