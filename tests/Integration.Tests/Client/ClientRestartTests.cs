using System.Collections.Concurrent;
using LogBroker.Client;
using LogBroker.Client.Admin;
using LogBroker.Client.Consumer;
using LogBroker.Client.Producer;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests.Client;

/// <summary>
/// The broker process is killed (SIGKILL) or stopped while our idempotent producer writes, then restarted
/// on the same port and data: the producer carries on by itself, every record is acknowledged once, and the
/// log holds each exactly once.
/// </summary>
public sealed class ClientRestartTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_idempotent_producer_survives_a_broker_restart_without_loss_or_duplicates(bool kill)
    {
        using var data = new TempDirectory("client-restart");
        int port = BrokerProcess.FreePort();
        BrokerProcess broker = await BrokerProcess.StartAsync(data.Path, port);
        try
        {
            string topic = BrokerFixture.UniqueTopic("client-restart");
            await using (var admin = new AdminClient(new AdminOptions { BootstrapServers = broker.Bootstrap }))
            {
                await admin.CreateTopicsAsync([new NewTopic(topic, 2)], Ct);
            }

            const int Count = 20_000;
            var acknowledged = new ConcurrentDictionary<int, long>();
            await using (var producer = new KafkaProducer(new ProducerOptions
            {
                BootstrapServers = broker.Bootstrap,
                Linger = TimeSpan.FromMilliseconds(2),
                BatchSize = 16 * 1024,
                ReconnectBackoff = TimeSpan.FromMilliseconds(50),
                ReconnectBackoffMax = TimeSpan.FromMilliseconds(500),
            }))
            {
                var pending = new List<Task>();
                for (int i = 0; i < Count; i++)
                {
                    if (i == Count / 2)
                    {
                        var waiting = System.Diagnostics.Stopwatch.StartNew();
                        while (acknowledged.Count < Count / 4 && waiting.Elapsed < TimeSpan.FromSeconds(30))
                        {
                            await Task.Delay(5, Ct);
                        }

                        if (kill)
                        {
                            await broker.KillAsync();
                        }
                        else
                        {
                            await broker.TerminateAsync();
                        }

                        await broker.DisposeAsync();
                        broker = await BrokerProcess.StartAsync(data.Path, port);
                    }

                    int value = i;
                    pending.Add(Track(producer.ProduceAsync(topic, new ProducerRecord(null, BitConverter.GetBytes(value)), Ct), value, acknowledged));
                }

                await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(120), Ct);
            }

            Assert.Equal(Count, acknowledged.Count);
            Assert.Equal(Count, acknowledged.Values.Distinct().Count()); // every record got its own offset

            var values = new HashSet<int>();
            await using var consumer = new KafkaConsumer(new ConsumerOptions { BootstrapServers = broker.Bootstrap, FetchMaxWait = TimeSpan.FromMilliseconds(100) });
            consumer.Assign([new TopicPartitionOffset(topic, 0, Offsets.Beginning), new TopicPartitionOffset(topic, 1, Offsets.Beginning)]);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            await foreach (ConsumeBatch batch in consumer.ConsumeBatchesAsync(timeout.Token))
            {
                foreach (ConsumedRecord r in batch)
                {
                    Assert.True(values.Add(BitConverter.ToInt32(r.Value)), "duplicate record after the restart");
                }

                if (values.Count == Count)
                {
                    break;
                }
            }

            Assert.Equal(Count, values.Count);
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    private static async Task Track(ValueTask<DeliveryResult> delivery, int value, ConcurrentDictionary<int, long> acknowledged)
    {
        DeliveryResult result = await delivery;
        Assert.True(acknowledged.TryAdd(value, (result.Partition.Partition * 1_000_000_000L) + result.Offset), "a record was acknowledged twice");
    }
}
