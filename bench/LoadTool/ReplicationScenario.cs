using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.TestKit;

namespace LogBroker.LoadTool;

/// <summary>
/// Issue 14's figures: W1 (produce <c>records</c> × 100 B, Confluent.Kafka, acks=all, linger 5 ms, 1 MiB batches) and W2
/// (consume them) on a 3-broker cluster with a 3-member etcd, all on this machine, for a one-partition topic with
/// replication factor 1 and one with 3, in alternating rounds (a fresh topic per round). RF1 is the same run's baseline:
/// the cost of replication is the difference. Every process is stopped by PID at the end.
/// </summary>
internal static class ReplicationScenario
{
    public static async Task RunAsync(string data, int records, int rounds)
    {
        await using EtcdCluster etcd = await EtcdCluster.StartAsync(3);
        var brokers = new List<global::Broker>();
        try
        {
            string[] endpoints = [.. etcd.Endpoints.Select((e, i) => $"--Cluster:Etcd:Endpoints:{i}={e}")];
            for (int id = 1; id <= 3; id++)
            {
                brokers.Add(await global::Broker.StartAsync(Path.Combine(data, $"b{id}"), [$"--Broker:NodeId={id}", "--Broker:FlushOnAcksAll=true", "--Admin:Enabled=false", .. endpoints]));
            }

            string bootstrap = string.Join(',', brokers.Select(b => b.Bootstrap));
            using IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();
            await WaitAsync(() => admin.GetMetadata(TimeSpan.FromSeconds(5)) is { Brokers.Count: 3 } m && m.OriginatingBrokerId > 0, "three brokers");
            Console.WriteLine($"replication: 3 brokers, 3 etcd members, {records} records of 100 B per round, acks=all, {rounds} rounds");
            var figures = new Dictionary<int, List<(double Produce, double Consume)>> { [1] = [], [3] = [] };
            for (int round = 0; round < rounds; round++)
            {
                foreach (int rf in round % 2 == 0 ? new[] { 1, 3 } : [3, 1])
                {
                    string topic = $"rf{rf}-r{round}";
                    await CreateAsync(admin, topic, rf);
                    double produced = Produce(bootstrap, topic, records);
                    double consumed = Consume(bootstrap, topic, records);
                    figures[rf].Add((produced, consumed));
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"round {round + 1} RF{rf}: W1 produce {produced / 1000:F0} k rec/s, W2 consume {consumed / 1000:F0} k rec/s"));
                }
            }

            foreach ((int rf, List<(double Produce, double Consume)> list) in figures)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"RF{rf}: W1 median {RoundStats.Median(list.Select(f => f.Produce)) / 1000:F0} k rec/s (range {list.Min(f => f.Produce) / 1000:F0}–{list.Max(f => f.Produce) / 1000:F0}), " +
                    $"W2 median {RoundStats.Median(list.Select(f => f.Consume)) / 1000:F0} k rec/s (range {list.Min(f => f.Consume) / 1000:F0}–{list.Max(f => f.Consume) / 1000:F0})"));
            }
        }
        finally
        {
            foreach (global::Broker broker in brokers)
            {
                await broker.DisposeAsync();
            }
        }
    }

    private static async Task CreateAsync(IAdminClient admin, string topic, int rf)
    {
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = (short)rf }]);
        await WaitAsync(() => admin.GetMetadata(topic, TimeSpan.FromSeconds(5)).Topics is [{ Error.IsError: false, Partitions: [{ Leader: > 0 } p] }] && p.InSyncReplicas.Length == rf,
            $"{topic} with {rf} in-sync replicas");
    }

    private static async Task WaitAsync(Func<bool> done, string what)
    {
        for (int i = 0; i < 300; i++)
        {
            try
            {
                if (done())
                {
                    return;
                }
            }
            catch (KafkaException)
            {
                // not yet
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"no {what} after 30 s");
    }

    private static double Produce(string bootstrap, string topic, int count)
    {
        using IProducer<Null, byte[]> producer = new ProducerBuilder<Null, byte[]>(ConfluentSender.ThroughputConfig(bootstrap, Acks.All, lingerMs: 5)).Build();
        var sender = new ConfluentSender(producer);
        var clock = Stopwatch.StartNew();
        sender.Send(topic, new Message<Null, byte[]> { Value = new byte[100] }, count);
        sender.FlushOrThrow(TimeSpan.FromMinutes(5));
        return count / clock.Elapsed.TotalSeconds;
    }

    private static double Consume(string bootstrap, string topic, int count)
    {
        using IConsumer<Ignore, byte[]> consumer = new ConsumerBuilder<Ignore, byte[]>(ConfluentSender.ThroughputConsumerConfig(bootstrap, "replication")).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var clock = Stopwatch.StartNew();
        int seen = 0;
        while (seen < count && clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            if (consumer.Consume(TimeSpan.FromSeconds(1)) is { IsPartitionEOF: false })
            {
                seen++;
            }
        }

        return seen == count ? count / clock.Elapsed.TotalSeconds : throw new InvalidOperationException($"consumed {seen} of {count}");
    }
}
