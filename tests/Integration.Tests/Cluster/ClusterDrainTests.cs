using Confluent.Kafka;
using LogBroker.Broker.Cluster;
using LogBroker.Protocol.Messages;

namespace LogBroker.Integration.Tests.Cluster;

/// <summary>
/// <c>logbroker cluster drain</c> on real processes: every partition a broker leads (a user topic's and
/// <c>__consumer_offsets</c>') gets another in-sync replica as leader, the ISR stays whole, and the broker, restarted
/// after its "maintenance", catches up but leads nothing (it is no longer any partition's preferred replica).
/// </summary>
[Collection(ClusterProcesses.Name)]
public sealed class ClusterDrainTests
{
    [Fact]
    public async Task Drain_moves_every_leadership_off_a_broker_and_a_restart_does_not_bring_it_back()
    {
        await using var cluster = await ThreeBrokerCluster.StartAsync();
        string topic = BrokerFixture.UniqueTopic("drain");
        await cluster.CreateTopicAsync(topic, 6);

        const int Victim = 2;
        var before = await ThreeBrokerCluster.WaitForAsync(() => cluster.MetadataAsync(1, topic, GroupCoordinatorMap.OffsetsTopic), AllInSync);
        Assert.True(AllInSync(before));
        Assert.Contains(before.Topics.SelectMany(t => t.Partitions), p => p.LeaderId == Victim);

        var (code, output) = await DrainAsync(cluster, Victim);
        Assert.True(code == 0, output);
        Assert.Contains($"broker {Victim}:", output);
        Assert.DoesNotContain("not moved", output);

        for (int id = 1; id <= 3; id++)
        {
            var after = await ThreeBrokerCluster.WaitForAsync(() => cluster.MetadataAsync(id, topic, GroupCoordinatorMap.OffsetsTopic), m => LedBy(m, Victim) == 0 && AllInSync(m));
            Assert.Equal(0, LedBy(after, Victim));
            Assert.True(AllInSync(after));
        }

        // Maintenance: stopped, started again; it rejoins every ISR and still leads nothing.
        await cluster.Brokers[Victim].TerminateAsync();
        await cluster.Brokers[Victim].DisposeAsync();
        cluster.Brokers[Victim] = await cluster.StartBrokerAsync(Victim, cluster.Brokers[Victim].Port);
        var back = await ThreeBrokerCluster.WaitForAsync(() => cluster.MetadataAsync(1, topic, GroupCoordinatorMap.OffsetsTopic), AllInSync);
        Assert.True(AllInSync(back));
        Assert.Equal(0, LedBy(back, Victim));

        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = cluster.Bootstrap, Acks = Acks.All }).Build();
        var delivered = await producer.ProduceAsync(topic, new Message<Null, string> { Value = "after the drain" }, TestContext.Current.CancellationToken);
        Assert.Equal(PersistenceStatus.Persisted, delivered.Status);
    }

    private static bool AllInSync(MetadataResponse metadata) =>
        metadata.Topics.All(t => t.ErrorCode == 0 && t.Partitions.Count > 0 && t.Partitions.All(p => p.ErrorCode == 0 && p.LeaderId > 0 && p.IsrNodes.Count == 3));

    private static int LedBy(MetadataResponse metadata, int id) => metadata.Topics.Sum(t => t.Partitions.Count(p => p.LeaderId == id));

    private static async Task<(int Code, string Out)> DrainAsync(ThreeBrokerCluster cluster, int id)
    {
        var output = new StringWriter();
        var context = new LogBroker.Cli.CliContext(output, output, new StringReader(""), interactive: false);
        int code = await LogBroker.Cli.CliApp.RunAsync(["cluster", "drain", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bootstrap", cluster.Bootstrap],
            context, TestContext.Current.CancellationToken);
        return (code, output.ToString());
    }
}
