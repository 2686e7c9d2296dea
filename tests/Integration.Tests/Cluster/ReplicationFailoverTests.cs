using Confluent.Kafka;

namespace LogBroker.Integration.Tests.Cluster;

/// <summary>
/// Replication on real processes (3 etcd members, 3 brokers, lease TTL 2 s, replica lag time 5 s): a topic with
/// replication factor 3 and min.insync.replicas=2 written by an idempotent acks=all Confluent.Kafka producer while
/// its leader is killed -9. Every acknowledged record is afterwards present exactly once and in order, the two
/// surviving replicas hold the same bytes, and the killed broker, started again, truncates, catches up and rejoins
/// the ISR with the same bytes. Every wait is bounded.
/// </summary>
[Collection(ClusterProcesses.Name)]
public sealed class ReplicationFailoverTests
{
    private const int Records = 300;

    [Fact]
    public async Task Acknowledged_records_survive_the_leader_killed_and_the_restarted_broker_catches_up_into_the_isr()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await ThreeBrokerCluster.StartAsync("--Replication:ReplicaLagTimeMax=00:00:05");
        const string topic = "replicated";
        await cluster.CreateTopicAsync(topic, 1, configs: new Dictionary<string, string> { ["min.insync.replicas"] = "2" });

        var state = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Leader: > 0, Isr.Count: 3 });
        Assert.Equal(3, state!.Isr.Count);
        int victim = state.Leader;

        var acked = new List<string>();
        var config = new ProducerConfig
        {
            BootstrapServers = cluster.Bootstrap,
            Acks = Acks.All,
            EnableIdempotence = true,
            MessageTimeoutMs = 60_000,
            RequestTimeoutMs = 5_000,
            LingerMs = 0,
        };
        using (var producer = new ProducerBuilder<Null, string>(config).Build())
        {
            for (int i = 0; i < Records; i++)
            {
                if (i == Records / 3)
                {
                    await cluster.Brokers[victim].KillAsync();
                }

                string value = $"v{i:D4}";
                try
                {
                    var result = await producer.ProduceAsync(topic, new Message<Null, string> { Value = value }, ct);
                    Assert.Equal(PersistenceStatus.Persisted, result.Status);
                    acked.Add(value);
                }
                catch (ProduceException<Null, string>)
                {
                    // Not acknowledged: it may or may not be stored, and is not checked below.
                }
            }
        }

        Assert.True(acked.Count >= Records * 2 / 3, $"only {acked.Count} of {Records} acknowledged");
        int[] survivors = [.. Enumerable.Range(1, 3).Where(id => id != victim)];
        var leaderState = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { } x && x.Leader != victim && x.Leader > 0);
        Assert.Contains(leaderState!.Leader, survivors);

        // Both survivors hold the same bytes (a follower catches up within a few fetches).
        byte[] first = await ThreeBrokerCluster.WaitForAsync(
            () => Task.FromResult(cluster.LogBytes(survivors[0], topic)), b => b.SequenceEqual(cluster.LogBytes(survivors[1], topic)));
        Assert.Equal(first, cluster.LogBytes(survivors[1], topic));

        // Every acknowledged record exactly once, in order, read by a consumer (below the high watermark).
        var read = Consume(cluster.Bootstrap, topic, ct);
        var ackedSet = acked.ToHashSet(StringComparer.Ordinal);
        var seen = read.Where(ackedSet.Contains).ToList();
        Assert.Equal(acked, seen);
        Assert.Equal(read.Count, read.Distinct(StringComparer.Ordinal).Count());

        // The killed broker comes back, truncates if it must, catches up and rejoins the ISR with the same bytes.
        cluster.Brokers[victim] = await cluster.StartBrokerAsync(victim, cluster.Brokers[victim].Port);
        var rejoined = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Isr.Count: 3 });
        Assert.Equal(3, rejoined!.Isr.Count);
        byte[] caughtUp = await ThreeBrokerCluster.WaitForAsync(() => Task.FromResult(cluster.LogBytes(victim, topic)), b => b.SequenceEqual(first));
        Assert.Equal(first, caughtUp);
    }

    private static List<string> Consume(string bootstrap, string topic, CancellationToken ct)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = "check-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            EnablePartitionEof = true,
        };
        using var consumer = new ConsumerBuilder<Ignore, string>(config).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var values = new List<string>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var result = consumer.Consume(TimeSpan.FromSeconds(1));
            if (result is null)
            {
                continue;
            }

            if (result.IsPartitionEOF)
            {
                break;
            }

            values.Add(result.Message.Value);
        }

        ct.ThrowIfCancellationRequested();
        return values;
    }
}
