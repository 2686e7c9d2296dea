using LogBroker.Broker.Cluster;
using LogBroker.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>Partition reassignment on the controller (fake store), the ISR driven by hand as the leader would.</summary>
public sealed class ReassignmentTests : IAsyncDisposable
{
    private static readonly Dictionary<string, string> NoConfigs = [];
    private readonly ControllerHarness _h = new();

    public ValueTask DisposeAsync() => _h.DisposeAsync();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Adding_replicas_catch_up_into_the_isr_then_the_old_ones_and_the_old_leader_are_dropped()
    {
        await _h.RegisterAsync(1, 2, 3, 4);
        var controller = await _h.ElectAsync(4);
        Assert.Equal(ControllerResult.Ok, await controller.CreateTopicAsync("t", 1, 2, NoConfigs, 0, Ct));
        var created = await _h.StateAsync("t", 0);
        Assert.Equal([1, 2], created.Replicas);

        // Move 1,2 to 3,2: 3 is added, 1 (the leader) is removed.
        var started = await controller.AlterReassignmentsAsync([("t", 0, [3, 2])], Ct);
        Assert.Equal(ErrorCode.None, Assert.Single(started).Error);
        var moving = await _h.StateAsync("t", 0);
        Assert.Equal([3, 2, 1], moving.Replicas);
        Assert.Equal([3], moving.AddingReplicas);
        Assert.Equal([1], moving.RemovingReplicas);
        Assert.Equal((1, created.LeaderEpoch, created.PartitionEpoch + 1), (moving.Leader, moving.LeaderEpoch, moving.PartitionEpoch));
        var listed = Assert.Single(await controller.ListReassignmentsAsync(null, Ct));
        Assert.Equal(("t", 0), (listed.Topic, listed.Partition));
        Assert.Empty(await controller.ListReassignmentsAsync([("t", [1]), ("nope", [0])], Ct));

        // Nothing to finish while 3 is catching up.
        Assert.False(await controller.CompleteReassignmentAsync("t", 0, Ct));
        Assert.Equal(moving.PartitionEpoch, (await _h.StateAsync("t", 0)).PartitionEpoch);

        // The leader lets 3 into the ISR: the controller finishes.
        var caughtUp = await _h.LeaderSetsIsrAsync("t", 0, 1, 2, 3);
        Assert.True(await controller.CompleteReassignmentAsync("t", 0, Ct));
        var done = await _h.StateAsync("t", 0);
        Assert.Equal([3, 2], done.Replicas);
        Assert.Equal([2, 3], done.Isr);
        Assert.Equal(3, done.Leader); // the leader being removed hands over to the target's first ISR member
        Assert.Empty(done.AddingReplicas);
        Assert.Empty(done.RemovingReplicas);
        Assert.Equal(caughtUp.LeaderEpoch + 1, done.LeaderEpoch);
        Assert.Equal(caughtUp.PartitionEpoch + 1, done.PartitionEpoch);
        Assert.Empty(await controller.ListReassignmentsAsync(null, Ct));
        Assert.False(await controller.CompleteReassignmentAsync("t", 0, Ct));
    }

    [Fact]
    public async Task A_reorder_or_a_shrink_finishes_at_once_and_bad_targets_are_refused()
    {
        var controller = await _h.StartThreeAsync(3);
        Assert.Equal(ControllerResult.Ok, await controller.CreateTopicAsync("t", 2, 3, NoConfigs, 0, Ct));
        var before = await _h.StateAsync("t", 0);
        Assert.Equal([1, 2, 3], before.Replicas);

        var outcomes = await controller.AlterReassignmentsAsync(
            [("t", 0, [3, 1]), ("t", 1, [2, 2]), ("t", 1, [2, 9]), ("t", 1, []), ("t", 5, [1]), ("nope", 0, [1])], Ct);
        Assert.Equal(
            [ErrorCode.None, ErrorCode.InvalidReplicaAssignment, ErrorCode.InvalidReplicaAssignment, ErrorCode.InvalidReplicaAssignment,
                ErrorCode.UnknownTopicOrPartition, ErrorCode.UnknownTopicOrPartition],
            outcomes.Select(o => o.Error));
        var shrunk = await _h.StateAsync("t", 0);
        Assert.Equal([3, 1], shrunk.Replicas);
        Assert.Equal([1, 3], shrunk.Isr);
        Assert.Equal(1, shrunk.Leader);
        Assert.Equal(before.LeaderEpoch + 1, shrunk.LeaderEpoch);
        Assert.Empty(shrunk.AddingReplicas);

        var same = await controller.AlterReassignmentsAsync([("t", 0, [3, 1])], Ct);
        Assert.Equal(ErrorCode.None, Assert.Single(same).Error);
        Assert.Equal(shrunk.PartitionEpoch, (await _h.StateAsync("t", 0)).PartitionEpoch);
    }

    [Fact]
    public async Task Cancelling_drops_the_adding_replicas_and_needs_a_reassignment_in_progress()
    {
        var controller = await _h.StartThreeAsync(3);
        Assert.Equal(ControllerResult.Ok, await controller.CreateTopicAsync("t", 1, 1, NoConfigs, 0, Ct));
        Assert.Equal(ErrorCode.NoReassignmentInProgress, Assert.Single(await controller.AlterReassignmentsAsync([("t", 0, null)], Ct)).Error);

        Assert.Equal(ErrorCode.None, Assert.Single(await controller.AlterReassignmentsAsync([("t", 0, [2, 3])], Ct)).Error);
        var moving = await _h.StateAsync("t", 0);
        Assert.Equal([2, 3, 1], moving.Replicas);
        await _h.LeaderSetsIsrAsync("t", 0, 1, 2);

        Assert.Equal(ErrorCode.None, Assert.Single(await controller.AlterReassignmentsAsync([("t", 0, null)], Ct)).Error);
        var back = await _h.StateAsync("t", 0);
        Assert.Equal([1], back.Replicas);
        Assert.Equal([1], back.Isr);
        Assert.Equal(1, back.Leader);
        Assert.Empty(back.AddingReplicas);
        Assert.Empty(back.RemovingReplicas);
        Assert.Empty(await controller.ListReassignmentsAsync(null, Ct));
    }

    [Fact]
    public async Task A_deposed_controller_neither_starts_nor_finishes_a_reassignment()
    {
        var stale = await _h.StartThreeAsync(1);
        Assert.Equal(ControllerResult.Ok, await stale.CreateTopicAsync("t", 1, 2, NoConfigs, 0, Ct));
        Assert.Equal([1, 2], (await _h.StateAsync("t", 0)).Replicas);
        Assert.Equal(ErrorCode.None, Assert.Single(await stale.AlterReassignmentsAsync([("t", 0, [2, 3])], Ct)).Error);
        var moving = await _h.StateAsync("t", 0);
        Assert.NotEmpty(moving.AddingReplicas);
        await _h.LeaderSetsIsrAsync("t", 0, [.. moving.Replicas]);

        await _h.ExpireAsync(1);
        var current = await _h.ElectAsync(2);
        Assert.Null(await stale.CompleteReassignmentAsync("t", 0, Ct));
        Assert.Equal(ErrorCode.NotController, Assert.Single(await stale.AlterReassignmentsAsync([("t", 0, null)], Ct)).Error);
        Assert.NotEmpty((await _h.StateAsync("t", 0)).AddingReplicas);

        await current.HandleBrokerChangesAsync(Ct);
        Assert.True(await current.CompleteReassignmentAsync("t", 0, Ct));
        Assert.Equal([2, 3], (await _h.StateAsync("t", 0)).Replicas);
    }

    [Fact]
    public async Task The_reactor_finishes_a_reassignment_when_the_leader_records_the_catch_up()
    {
        var options = new ClusterOptions { LeaseTtl = TimeSpan.FromSeconds(10) };
        using var broker = new TestBroker(_h.Store, options, 1);
        var service = broker.Service;
        var reactor = new ReassignmentReactor(service, _h.Store, options, NullLogger<ReassignmentReactor>.Instance);
        await _h.RegisterAsync(2, 3);
        await service.StartAsync(Ct);
        await reactor.StartAsync(Ct);
        try
        {
            for (var i = 0; i < 400 && service.Controller is null; i++)
            {
                await Task.Delay(25, Ct);
            }

            var controller = service.Controller;
            Assert.NotNull(controller);
            Assert.Equal(ControllerResult.Ok, await controller.CreateTopicAsync("t", 1, 2, NoConfigs, 1, Ct));
            var created = await _h.StateAsync("t", 0);
            int[] all = [1, 2, 3];
            var target = all.Except(created.Replicas).Concat(created.Replicas.Skip(1)).ToArray();
            Assert.Equal(ErrorCode.None, Assert.Single(await controller.AlterReassignmentsAsync([("t", 0, target)], Ct)).Error);
            Assert.NotEmpty((await _h.StateAsync("t", 0)).AddingReplicas);

            await _h.LeaderSetsIsrAsync("t", 0, [.. (await _h.StateAsync("t", 0)).Replicas]);
            for (var i = 0; i < 400 && reactor.Completed == 0; i++)
            {
                await Task.Delay(25, Ct);
            }

            Assert.Equal(1, reactor.Completed);
            var done = await _h.StateAsync("t", 0);
            Assert.Equal(target, done.Replicas);
            Assert.Empty(done.AddingReplicas);
        }
        finally
        {
            await reactor.StopAsync(CancellationToken.None);
            await service.StopAsync(CancellationToken.None);
            reactor.Dispose();
        }
    }
}
