using System.Collections.Concurrent;
using Confluent.Kafka;
using LogBroker.Protocol.Messages;

namespace LogBroker.Integration.Tests;

/// <summary>Confluent members of a classic group whose every assignment, revocation and loss is recorded (for tests that a group is not disturbed).</summary>
internal static class GroupMembers
{
    /// <summary>A member named <paramref name="name"/>; its rebalance callbacks add "name assigned|revoked|lost N" to <paramref name="events"/>.</summary>
    public static IConsumer<Ignore, string> Create(string bootstrap, string group, string name, ConcurrentQueue<string> events) =>
        new ConsumerBuilder<Ignore, string>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = group,
            ClientId = name,
            SessionTimeoutMs = 10_000,
            HeartbeatIntervalMs = 500,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
        })
            .SetPartitionsAssignedHandler((_, assigned) => events.Enqueue($"{name} assigned {assigned.Count}"))
            .SetPartitionsRevokedHandler((_, revoked) => events.Enqueue($"{name} revoked {revoked.Count}"))
            .SetPartitionsLostHandler((_, lost) => events.Enqueue($"{name} lost {lost.Count}"))
            .SetLogHandler((_, _) => { })
            .Build();

    /// <summary>Two members "a" and "b" subscribed to <paramref name="topic"/> (two partitions), each holding one partition and settled.</summary>
    public static (IConsumer<Ignore, string> A, IConsumer<Ignore, string> B) Join(string bootstrap, string group, string topic, ConcurrentQueue<string> events)
    {
        var a = Create(bootstrap, group, "a", events);
        var b = Create(bootstrap, group, "b", events);
        a.Subscribe(topic);
        b.Subscribe(topic);
        WaitForOnePartitionEach(a, b);
        return (a, b);
    }

    /// <summary>Polls until each of two members subscribed to a two-partition topic holds one partition (60 s at most), then 2 s more to settle.</summary>
    public static void WaitForOnePartitionEach(IConsumer<Ignore, string> a, IConsumer<Ignore, string> b)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((a.Assignment.Count != 1 || b.Assignment.Count != 1) && DateTime.UtcNow < deadline)
        {
            a.Consume(100);
            b.Consume(100);
        }

        Assert.Equal((1, 1), (a.Assignment.Count, b.Assignment.Count));
        Poll([a, b], TimeSpan.FromSeconds(2)); // settled: no rebalance in flight
    }

    /// <summary>Polls every consumer in turn for <paramref name="duration"/> (heartbeats and callbacks run in the polls).</summary>
    public static void Poll(IConsumer<Ignore, string>[] consumers, TimeSpan duration)
    {
        var until = DateTime.UtcNow + duration;
        while (DateTime.UtcNow < until)
        {
            foreach (var consumer in consumers)
            {
                consumer.Consume(50);
            }
        }
    }

    /// <summary>The group's member ids at its coordinator (DescribeGroups; waits while it loads), sorted.</summary>
    public static async Task<string[]> MemberIdsAsync(int port, string group)
    {
        using var connection = await RawConnection.OpenAsync(port);
        var described = await Cluster.ThreeBrokerCluster.WaitForAsync(
            async () => (await connection.RequestAsync<DescribeGroupsResponse>(
                ApiKey.DescribeGroups, 5, new DescribeGroupsRequest { Groups = [group] }, TimeSpan.FromSeconds(10))).Groups[0],
            g => g.ErrorCode == 0 && g.GroupState == "Stable");
        Assert.Equal((0, "Stable"), (described.ErrorCode, described.GroupState));
        return [.. described.Members.Select(m => m.MemberId).Order(StringComparer.Ordinal)];
    }
}
