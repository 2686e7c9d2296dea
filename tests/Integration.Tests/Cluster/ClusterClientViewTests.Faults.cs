using Confluent.Kafka;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests.Cluster;
/// <summary>What clients see of the cluster while a replica falls behind, a leader is paused past its lease, or a topic config changes.</summary>
public sealed partial class ClusterClientViewTests
{
    [Fact]
    public async Task Acks_all_below_min_insync_replicas_is_refused_with_not_enough_replicas_until_the_isr_grows_back()
    {
        var topic = BrokerFixture.UniqueTopic("minisr");
        await cluster.CreateTopicAsync(topic, 1, configs: new Dictionary<string, string> { ["min.insync.replicas"] = "2" });

        var state = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Leader: > 0, Isr.Count: 3 });
        Assert.Equal(3, state!.Isr.Count);
        int leader = state.Leader;
        int[] followers = [.. Enumerable.Range(1, 3).Where(id => id != leader)];
        using var connection = await RawConnection.OpenAsync(cluster.Brokers[leader].Port);
        Assert.Equal(0, await ProduceAsync(connection, topic, 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), acks: -1));

        // Both followers stopped past their 2 s lease: the controller shrinks the ISR to the leader alone.
        foreach (int id in followers)
        {
            await cluster.Brokers[id].PauseAsync();
        }

        try
        {
            var shrunk = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Isr.Count: 1 });
            Assert.Equal([leader], shrunk!.Isr);
            Assert.Equal(leader, shrunk.Leader);

            // acks=all is refused before the append; acks=1 is still taken.
            var refused = await ThreeBrokerCluster.WaitForAsync(
                () => ProduceAsync(connection, topic, 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), acks: -1), e => e != 0);
            Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotEnoughReplicas, refused);
            Assert.Equal(0, await ProduceAsync(connection, topic, 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), acks: 1));
        }
        finally
        {
            foreach (int id in followers)
            {
                await cluster.Brokers[id].ResumeAsync();
            }
        }

        // Back: they register again, catch up and rejoin the ISR, and acks=all is taken again.
        var healed = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Isr.Count: 3 });
        Assert.Equal(3, healed!.Isr.Count);
        var accepted = await ThreeBrokerCluster.WaitForAsync(
            () => ProduceAsync(connection, topic, 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), acks: -1), e => e == 0);
        Assert.Equal(0, accepted);
        await ThreeBrokerCluster.WaitForAsync(async () => (await cluster.Store.RangeAsync(cluster.Keys.BrokersPrefix, CancellationToken.None)).Items.Count, n => n == 3);
    }

    [Fact]
    public async Task A_leader_paused_past_its_lease_is_fenced_when_it_resumes_and_acknowledges_no_acks_all_write()
    {
        var topic = BrokerFixture.UniqueTopic("zombie");
        await cluster.CreateTopicAsync(topic, 1);

        var state = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Leader: > 0, Isr.Count: 3 });
        int old = state!.Leader;
        using var atOld = await RawConnection.OpenAsync(cluster.Brokers[old].Port);
        Assert.Equal(0, await ProduceTaggedAsync(atOld, topic, "before", acks: -1, timeoutMs: 10_000));

        // Stopped past its 2 s lease: the controller elects another ISR member, which takes a write.
        await cluster.Brokers[old].PauseAsync();
        int leader;
        try
        {
            var moved = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Leader: > 0 } x && x.Leader != old);
            leader = moved!.Leader;
            Assert.NotEqual(old, leader);
            using var atNew = await RawConnection.OpenAsync(cluster.Brokers[leader].Port);
            short written = await ThreeBrokerCluster.WaitForAsync(() => ProduceTaggedAsync(atNew, topic, "new-leader", acks: -1, timeoutMs: 10_000), e => e == 0);
            Assert.Equal(0, written);
        }
        finally
        {
            await cluster.Brokers[old].ResumeAsync();
        }

        // At once after SIGCONT, before it can have heard of the new epoch: its lease ran out while it was stopped, so
        // it refuses even an acks=1 write (leadership is bound to the lease). An acks=all write is never acknowledged
        // there either (its ISR fetches from the new leader), and it refuses writes from then on.
        short first = await ProduceTaggedAsync(atOld, topic, "zombie1", acks: 1, timeoutMs: 3_000);
        Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotLeaderOrFollower, first);
        short zombie = await ProduceTaggedAsync(atOld, topic, "zombie", acks: -1, timeoutMs: 3_000);
        Assert.NotEqual(0, zombie);
        short refused = await ThreeBrokerCluster.WaitForAsync(() => ProduceTaggedAsync(atOld, topic, "late", acks: 1, timeoutMs: 3_000), e => e != 0);
        Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotLeaderOrFollower, refused);

        // It comes back as a follower, truncates what it took as a zombie, and catches up into the ISR.
        var healed = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Isr.Count: 3 });
        Assert.Equal(3, healed!.Isr.Count);
        var config = new ConsumerConfig { BootstrapServers = cluster.Bootstrap, GroupId = "zombie-" + Guid.NewGuid().ToString("N"), EnablePartitionEof = true };
        using var consumer = new ConsumerBuilder<string, Ignore>(config).Build();
        consumer.Assign(new Confluent.Kafka.TopicPartitionOffset(topic, 0, Offset.Beginning));
        var keys = new List<string>();
        for (int i = 0; i < 60; i++)
        {
            if (consumer.Consume(TimeSpan.FromSeconds(1)) is { } r)
            {
                if (r.IsPartitionEOF)
                {
                    break;
                }

                keys.Add(r.Message.Key);
            }
        }

        Assert.Equal(["before-0", "new-leader-0"], keys);
        await ThreeBrokerCluster.WaitForAsync(async () => (await cluster.Store.RangeAsync(cluster.Keys.BrokersPrefix, CancellationToken.None)).Items.Count, n => n == 3);
    }

    private static async Task<short> ProduceTaggedAsync(RawConnection connection, string topic, string tag, short acks, int timeoutMs)
    {
        var response = await connection.RequestAsync<ProduceResponse>(
            ApiKey.Produce, 9, RequestFrames.Produce(topic, 0, Batches.Create(1, tag: tag), acks, timeoutMs), TimeSpan.FromSeconds(30));
        return Assert.Single(Assert.Single(response.Responses).PartitionResponses).ErrorCode;
    }

    [Fact]
    public async Task A_config_change_sent_to_any_broker_reaches_every_replica_and_the_leader_enforces_it()
    {
        var topic = BrokerFixture.UniqueTopic("cfg");
        await cluster.CreateTopicAsync(topic, 1);

        var state = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Leader: > 0, Isr.Count: 3 });
        int leader = state!.Leader;
        int controller = await cluster.ControllerIdAsync();
        int receiver = Enumerable.Range(1, 3).FirstOrDefault(id => id != controller && id != leader) is var r and > 0 ? r : Enumerable.Range(1, 3).First(id => id != controller);
        for (var id = 1; id <= 3; id++)
        {
            await ThreeBrokerCluster.WaitForSync(() => cluster.PartitionDirectories(id, topic), d => d.Length == 1);
        }

        using (var connection = await RawConnection.OpenAsync(cluster.Brokers[receiver].Port))
        {
            // An invalid value is refused and nothing is recorded.
            var invalid = await IncrementalAsync(connection, topic, ("retention.ms", "soon"));
            Assert.Equal((short)LogBroker.Protocol.ErrorCode.InvalidConfig, invalid);

            // min.insync.replicas above the replica count: the leader refuses acks=all from then on.
            Assert.Equal(0, await IncrementalAsync(connection, topic, ("min.insync.replicas", "4"), ("retention.ms", "123456")));
        }

        for (var id = 1; id <= 3; id++)
        {
            var configs = await ThreeBrokerCluster.WaitForAsync(() => ConfigsAsync(id, topic), c => c.GetValueOrDefault("min.insync.replicas") == "4");
            Assert.Equal("4", configs.GetValueOrDefault("min.insync.replicas"));
            Assert.Equal("123456", configs.GetValueOrDefault("retention.ms"));
        }

        using (var connection = await RawConnection.OpenAsync(cluster.Brokers[leader].Port))
        {
            Assert.Equal((short)LogBroker.Protocol.ErrorCode.NotEnoughReplicas, await ProduceAsync(connection, topic, 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), acks: -1));

            // Deleted again (from the leader this time): acks=all is taken.
            Assert.Equal(0, await IncrementalAsync(connection, topic, ("min.insync.replicas", null)));
            var taken = await ThreeBrokerCluster.WaitForAsync(
                () => ProduceAsync(connection, topic, 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), acks: -1), e => e == 0);
            Assert.Equal(0, taken);
        }

        var final = await ThreeBrokerCluster.WaitForAsync(() => ConfigsAsync(receiver, topic), c => !c.ContainsKey("min.insync.replicas"));
        Assert.False(final.ContainsKey("min.insync.replicas"));
        Assert.Equal("123456", final.GetValueOrDefault("retention.ms")); // the other override kept
    }

    /// <summary>IncrementalAlterConfigs v1 of one topic: SET for a value, DELETE for null; the error code.</summary>
    private static async Task<short> IncrementalAsync(RawConnection connection, string topic, params (string Name, string? Value)[] configs)
    {
        var response = await connection.RequestAsync<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, new IncrementalAlterConfigsRequest
        {
            Resources = [new IncrementalAlterConfigsRequest.AlterConfigsResource
            {
                ResourceType = 2,
                ResourceName = topic,
                Configs = [.. configs.Select(c => new IncrementalAlterConfigsRequest.AlterableConfig { Name = c.Name, ConfigOperation = (sbyte)(c.Value is null ? 1 : 0), Value = c.Value })],
            }],
        }, TimeSpan.FromSeconds(10));
        return response.Responses[0].ErrorCode;
    }

    /// <summary>The topic's overrides (dynamic topic configs) as broker <paramref name="id"/> describes them.</summary>
    private async Task<Dictionary<string, string?>> ConfigsAsync(int id, string topic)
    {
        using var connection = await RawConnection.OpenAsync(cluster.Brokers[id].Port);
        var response = await connection.RequestAsync<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 4, new DescribeConfigsRequest
        {
            Resources = [new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = 2, ResourceName = topic, ConfigurationKeys = null }],
        }, TimeSpan.FromSeconds(10));
        return response.Results[0].Configs.Where(c => c.ConfigSource == 1).ToDictionary(c => c.Name, c => c.Value, StringComparer.Ordinal);
    }
}
