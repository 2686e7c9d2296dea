using System.Collections.Concurrent;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests;

/// <summary>
/// The broker process is stopped gracefully (SIGTERM) or killed (SIGKILL) while a producer is
/// writing, then restarted on the same port and data: every acknowledged record is still there, the
/// clients carry on, and the idempotent producer's retries add no duplicates.
/// </summary>
public sealed class RestartTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Acknowledged_records_survive_a_restart_in_the_middle_of_producing(bool kill)
    {
        using var data = new TempDirectory("restart");
        int port = BrokerProcess.FreePort();
        BrokerProcess broker = await BrokerProcess.StartAsync(data.Path, port);
        try
        {
            await ProduceThroughRestartAsync(data.Path, port, kill, () => broker, b => broker = b);
        }
        finally
        {
            await broker.DisposeAsync(); // never leave a broker process behind, whatever failed
        }
    }

    [Fact]
    public async Task A_classic_groups_members_carry_on_after_a_restart_without_a_rebalance()
    {
        using var data = new TempDirectory("group-restart");
        int port = BrokerProcess.FreePort();
        BrokerProcess broker = await BrokerProcess.StartAsync(data.Path, port);
        try
        {
            string topic = BrokerFixture.UniqueTopic("keep");
            string group = "keep-" + Guid.NewGuid().ToString("N")[..8];
            using (IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.Bootstrap }).Build())
            {
                await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 2, ReplicationFactor = 1 }]);
            }

            var events = new ConcurrentQueue<string>();
            var (a, b) = GroupMembers.Join(broker.Bootstrap, group, topic, events);
            using var memberA = a;
            using var memberB = b;
            string[] settled = [.. events];
            string[] members = await GroupMembers.MemberIdsAsync(port, group);

            // SIGTERM and a restart well within the 10 s session timeout: the broker rebuilds the group from its record,
            // and the members heartbeat on in their generation. No revocation, no loss, no new assignment.
            await broker.TerminateAsync();
            await broker.DisposeAsync();
            broker = await BrokerProcess.StartAsync(data.Path, port);
            GroupMembers.Poll([a, b], TimeSpan.FromSeconds(6));
            Assert.Equal(settled, events.ToArray());
            Assert.Equal(members, await GroupMembers.MemberIdsAsync(port, group));
            a.Close();
            b.Close();
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_acknowledged_offset_commit_survives_kill_9()
    {
        using var data = new TempDirectory("commit-kill");
        int port = BrokerProcess.FreePort();
        BrokerProcess broker = await BrokerProcess.StartAsync(data.Path, port);
        try
        {
            string topic = BrokerFixture.UniqueTopic("commit");
            using (IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.Bootstrap }).Build())
            {
                await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 2, ReplicationFactor = 1 }]);
            }

            var config = new ConsumerConfig { BootstrapServers = broker.Bootstrap, GroupId = "durable", EnableAutoCommit = false };
            using (IConsumer<Null, byte[]> consumer = new ConsumerBuilder<Null, byte[]>(config).SetLogHandler((_, _) => { }).Build())
            {
                consumer.Commit([new TopicPartitionOffset(topic, 0, 1234), new TopicPartitionOffset(topic, 1, 5678)]); // returns once acknowledged
            }

            await broker.KillAsync();
            await broker.DisposeAsync();
            broker = await BrokerProcess.StartAsync(data.Path, port);

            using IConsumer<Null, byte[]> after = new ConsumerBuilder<Null, byte[]>(new ConsumerConfig { BootstrapServers = broker.Bootstrap, GroupId = "durable", EnableAutoCommit = false }).SetLogHandler((_, _) => { }).Build();
            List<TopicPartitionOffset> committed = after.Committed([new TopicPartition(topic, 0), new TopicPartition(topic, 1)], TimeSpan.FromSeconds(20));
            Assert.Equal([1234L, 5678L], committed.OrderBy(c => c.Partition.Value).Select(c => c.Offset.Value));
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    private static async Task ProduceThroughRestartAsync(string dataPath, int port, bool kill, Func<BrokerProcess> current, Action<BrokerProcess> replace)
    {
        BrokerProcess broker = current();
        string topic = BrokerFixture.UniqueTopic("restart");
        using (IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.Bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 2, ReplicationFactor = 1 }]);
        }

        const int Count = 20_000;
        var acknowledged = new ConcurrentDictionary<int, long>();
        var failed = new ConcurrentBag<string>();
        int[] acknowledgedBeforeStop = [];
        using (IProducer<Null, byte[]> producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig
        {
            BootstrapServers = broker.Bootstrap,
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 2,
            MessageTimeoutMs = 120_000,
            ReconnectBackoffMs = 50,
            ReconnectBackoffMaxMs = 500,
        }).SetLogHandler((_, _) => { }).Build())
        {
            for (int i = 0; i < Count; i++)
            {
                if (i == Count / 2)
                {
                    // Stop once part of what was produced is acknowledged: the rest is in flight or queued.
                    var waiting = System.Diagnostics.Stopwatch.StartNew();
                    while (acknowledged.Count < Count / 4 && waiting.Elapsed < TimeSpan.FromSeconds(30))
                    {
                        producer.Poll(TimeSpan.FromMilliseconds(5));
                    }

                    if (kill)
                    {
                        await broker.KillAsync();
                    }
                    else
                    {
                        await broker.TerminateAsync();
                        Assert.Equal(0, broker.ExitCode);
                    }

                    Assert.Equal(!kill, File.Exists(Path.Combine(dataPath, ".clean-shutdown")));
                    acknowledgedBeforeStop = [.. acknowledged.Keys];
                    await broker.DisposeAsync();
                    broker = await BrokerProcess.StartAsync(dataPath, port);
                    replace(broker);
                }

                int value = i;
                producer.Produce(topic, new Message<Null, byte[]> { Value = BitConverter.GetBytes(value) }, report =>
                {
                    if (report.Error.IsError)
                    {
                        failed.Add(report.Error.ToString());
                    }
                    else
                    {
                        acknowledged[value] = report.Offset.Value;
                    }
                });
                if (i % 1000 == 0)
                {
                    producer.Poll(TimeSpan.Zero);
                }
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(120)));
        }

        Assert.Empty(failed);
        Assert.Equal(Count, acknowledged.Count);

        var values = new HashSet<int>();
        using (IConsumer<Null, byte[]> consumer = new ConsumerBuilder<Null, byte[]>(new ConsumerConfig
        {
            BootstrapServers = broker.Bootstrap,
            GroupId = "unused",
            EnableAutoCommit = false,
        }).Build())
        {
            consumer.Assign([new TopicPartitionOffset(topic, 0, Offset.Beginning), new TopicPartitionOffset(topic, 1, Offset.Beginning)]);
            DateTime deadline = DateTime.UtcNow.AddSeconds(60);
            while (values.Count < Count && DateTime.UtcNow < deadline)
            {
                ConsumeResult<Null, byte[]>? r = consumer.Consume(TimeSpan.FromMilliseconds(500));
                if (r is { IsPartitionEOF: false })
                {
                    Assert.True(values.Add(BitConverter.ToInt32(r.Message.Value)), "duplicate record after the restart");
                }
            }
        }

        Assert.Equal(Count, values.Count);
        Assert.NotEmpty(acknowledgedBeforeStop);
        Assert.Subset(values, acknowledgedBeforeStop.ToHashSet());
    }
}
