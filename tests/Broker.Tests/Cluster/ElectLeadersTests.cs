using LogBroker.Broker.Cluster;
using LogBroker.Protocol;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>ElectLeaders on the controller (fake store): preferred and unclean elections, fenced compare-and-sets.</summary>
public sealed class ElectLeadersTests : IAsyncDisposable
{
    private static readonly Dictionary<string, string> NoConfigs = [];
    private readonly ControllerHarness _h = new();

    public ValueTask DisposeAsync() => _h.DisposeAsync();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Preferred_election_moves_leadership_back_to_the_first_replica_once_it_is_in_the_isr()
    {
        var controller = await _h.StartThreeAsync(3);
        Assert.Equal(ControllerResult.Ok, await controller.CreateTopicAsync("t", 3, 3, NoConfigs, 0, Ct));

        // Broker 1 dies: partition 0 (replicas 1,2,3) fails over to 2. It comes back and the leader lets it into the ISR.
        await _h.ExpireAsync(1);
        Assert.Equal(3, await controller.HandleBrokerChangesAsync(Ct));
        var failedOver = await _h.StateAsync("t", 0);
        Assert.Equal(2, failedOver.Leader);
        await _h.RegisterAsync(1);

        // Not yet in the ISR: the preferred replica may not lead.
        var early = await controller.ElectLeadersAsync(ElectionType.Preferred, [("t", 0)], Ct);
        Assert.Equal(ErrorCode.PreferredLeaderNotAvailable, Assert.Single(early).Error);
        Assert.Equal(failedOver.PartitionEpoch, (await _h.StateAsync("t", 0)).PartitionEpoch);

        var rejoined = await _h.LeaderSetsIsrAsync("t", 0, 2, 3, 1);
        var outcomes = await controller.ElectLeadersAsync(ElectionType.Preferred, [("t", 0), ("t", 1)], Ct);
        Assert.Equal([ErrorCode.None, ErrorCode.ElectionNotNeeded], outcomes.Select(o => o.Error));
        var moved = await _h.StateAsync("t", 0);
        Assert.Equal(1, moved.Leader);
        Assert.Equal(rejoined.LeaderEpoch + 1, moved.LeaderEpoch);
        Assert.Equal(rejoined.PartitionEpoch + 1, moved.PartitionEpoch);
        Assert.Equal([2, 3, 1], moved.Isr);

        var again = await controller.ElectLeadersAsync(ElectionType.Preferred, [("t", 0)], Ct);
        Assert.Equal(ErrorCode.ElectionNotNeeded, Assert.Single(again).Error);
        Assert.Equal(moved.PartitionEpoch, (await _h.StateAsync("t", 0)).PartitionEpoch);
    }

    [Fact]
    public async Task Preferred_election_refuses_a_dead_preferred_replica_and_answers_unknown_partitions()
    {
        await _h.RegisterAsync(1, 2);
        var controller = await _h.ElectAsync(2);
        Assert.Equal(ControllerResult.Ok, await controller.CreateTopicAsync("t", 1, 2, NoConfigs, 0, Ct));
        await _h.ExpireAsync(1);
        Assert.Equal(1, await controller.HandleBrokerChangesAsync(Ct));

        // Broker 1 is gone but (as Kafka keeps it) it is no longer in the ISR: either way it cannot lead.
        var outcomes = await controller.ElectLeadersAsync(ElectionType.Preferred, [("t", 0), ("t", 7), ("nope", 0)], Ct);
        Assert.Equal(
            [ErrorCode.PreferredLeaderNotAvailable, ErrorCode.UnknownTopicOrPartition, ErrorCode.UnknownTopicOrPartition],
            outcomes.Select(o => o.Error));
        Assert.Equal(2, (await _h.StateAsync("t", 0)).Leader);
    }

    [Fact]
    public async Task Unclean_election_gives_a_leaderless_partition_a_live_replica_outside_the_isr()
    {
        var controller = await _h.StartThreeAsync(3);
        Assert.Equal(ControllerResult.Ok, await controller.CreateTopicAsync("t", 1, 2, NoConfigs, 0, Ct));
        var created = await _h.StateAsync("t", 0);
        Assert.Equal([1, 2], created.Replicas);

        // Follower 2 falls behind (the leader shrinks the ISR), then the leader dies: no clean leader is left.
        await _h.LeaderSetsIsrAsync("t", 0, 1);
        await _h.ExpireAsync(1);
        Assert.Equal(1, await controller.HandleBrokerChangesAsync(Ct));
        var offline = await _h.StateAsync("t", 0);
        Assert.Equal(-1, offline.Leader);
        Assert.Equal([1], offline.Isr);

        var preferred = await controller.ElectLeadersAsync(ElectionType.Preferred, [("t", 0)], Ct);
        Assert.Equal(ErrorCode.PreferredLeaderNotAvailable, Assert.Single(preferred).Error);

        var unclean = await controller.ElectLeadersAsync(ElectionType.Unclean, [("t", 0)], Ct);
        Assert.Equal(ErrorCode.None, Assert.Single(unclean).Error);
        var elected = await _h.StateAsync("t", 0);
        Assert.Equal(2, elected.Leader);
        Assert.Equal([2], elected.Isr);
        Assert.Equal(offline.LeaderEpoch + 1, elected.LeaderEpoch);
        Assert.Equal(offline.PartitionEpoch + 1, elected.PartitionEpoch);

        var notNeeded = await controller.ElectLeadersAsync(ElectionType.Unclean, [("t", 0)], Ct);
        Assert.Equal(ErrorCode.ElectionNotNeeded, Assert.Single(notNeeded).Error);
    }

    [Fact]
    public async Task Unclean_election_prefers_a_live_isr_member_and_fails_when_no_replica_lives()
    {
        var controller = await _h.StartThreeAsync(3);
        Assert.Equal(ControllerResult.Ok, await controller.CreateTopicAsync("t", 1, 2, NoConfigs, 0, Ct));
        await _h.ExpireAsync(1, 2);
        Assert.Equal(1, await controller.HandleBrokerChangesAsync(Ct));
        Assert.Equal(-1, (await _h.StateAsync("t", 0)).Leader);
        var none = await controller.ElectLeadersAsync(ElectionType.Unclean, [("t", 0)], Ct);
        Assert.Equal(ErrorCode.EligibleLeadersNotAvailable, Assert.Single(none).Error);

        // Replicas 1,2,3 of "u": 1 fails over to 2 and comes back outside the ISR; 2 shrinks the ISR to itself and
        // dies. With 1 and 3 live outside the ISR, an unclean election would take 1 (first); once 2 is back, it is
        // the live ISR member and wins though it is not first.
        await _h.RegisterAsync(1, 2);
        Assert.Equal(ControllerResult.Ok, await controller.CreateTopicAsync("u", 1, 3, NoConfigs, 0, Ct));
        var u = await _h.StateAsync("u", 0);
        Assert.Equal(1, u.Leader);
        await _h.ExpireAsync(1);
        await controller.HandleBrokerChangesAsync(Ct);
        Assert.Equal(2, (await _h.StateAsync("u", 0)).Leader);
        await _h.RegisterAsync(1);
        await _h.LeaderSetsIsrAsync("u", 0, 2);
        await _h.ExpireAsync(2);
        await controller.HandleBrokerChangesAsync(Ct);
        var offline = await _h.StateAsync("u", 0);
        Assert.Equal(-1, offline.Leader);
        Assert.Equal([2], offline.Isr);
        await _h.RegisterAsync(2);

        var outcome = await controller.ElectLeadersAsync(ElectionType.Unclean, [("u", 0)], Ct);
        Assert.Equal(ErrorCode.None, Assert.Single(outcome).Error);
        var state = await _h.StateAsync("u", 0);
        Assert.Equal(2, state.Leader);
        Assert.Equal([2], state.Isr);
    }

    [Fact]
    public async Task Null_partitions_elect_everywhere_and_leave_out_partitions_that_need_nothing()
    {
        var controller = await _h.StartThreeAsync(3);
        Assert.Equal(ControllerResult.Ok, await controller.CreateTopicAsync("a", 3, 3, NoConfigs, 0, Ct));
        Assert.Equal(ControllerResult.Ok, await controller.CreateTopicAsync("b", 2, 2, NoConfigs, 0, Ct));
        await _h.ExpireAsync(1);
        await controller.HandleBrokerChangesAsync(Ct);
        await _h.RegisterAsync(1);
        var moved = new List<(string, int)>();
        foreach (var (topic, count) in new[] { ("a", 3), ("b", 2) })
        {
            for (var p = 0; p < count; p++)
            {
                var s = await _h.StateAsync(topic, p);
                if (s.Replicas[0] == 1)
                {
                    await _h.LeaderSetsIsrAsync(topic, p, [.. s.Isr, 1]);
                    moved.Add((topic, p));
                }
            }
        }

        Assert.NotEmpty(moved);
        var outcomes = await controller.ElectLeadersAsync(ElectionType.Preferred, null, Ct);
        Assert.Equal(moved, outcomes.Select(o => (o.Topic, o.Partition)));
        Assert.All(outcomes, o => Assert.Equal(ErrorCode.None, o.Error));
        foreach (var (topic, p) in moved)
        {
            Assert.Equal(1, (await _h.StateAsync(topic, p)).Leader);
        }

        Assert.Empty(await controller.ElectLeadersAsync(ElectionType.Preferred, null, Ct));
    }

    [Fact]
    public async Task A_deposed_controller_elects_nothing()
    {
        var stale = await _h.StartThreeAsync(1);
        Assert.Equal(ControllerResult.Ok, await stale.CreateTopicAsync("t", 1, 3, NoConfigs, 0, Ct));
        await _h.ExpireAsync(1);
        var current = await _h.ElectAsync(2);
        Assert.Equal(1, await current.HandleBrokerChangesAsync(Ct));
        await _h.RegisterAsync(1);
        await _h.LeaderSetsIsrAsync("t", 0, 2, 3, 1);
        var before = await _h.StateAsync("t", 0);

        var outcomes = await stale.ElectLeadersAsync(ElectionType.Preferred, [("t", 0)], Ct);
        Assert.Equal(ErrorCode.NotController, Assert.Single(outcomes).Error);
        Assert.Equal(before.PartitionEpoch, (await _h.StateAsync("t", 0)).PartitionEpoch);

        Assert.Equal(ErrorCode.None, Assert.Single(await current.ElectLeadersAsync(ElectionType.Preferred, [("t", 0)], Ct)).Error);
        Assert.Equal(1, (await _h.StateAsync("t", 0)).Leader);
    }
}
