using LogBroker.Broker.Cluster;

namespace LogBroker.Broker.Tests.Cluster;

public sealed class ReplicaAssignerTests
{
    [Fact]
    public void Leaders_spread_round_robin_and_each_partition_has_distinct_replicas()
    {
        var assignment = ReplicaAssigner.Assign([3, 1, 2], 6, 3, 0);
        Assert.Equal([1, 2, 3, 1, 2, 3], assignment.Select(r => r[0]));
        Assert.All(assignment, r => Assert.Equal(3, r.Distinct().Count()));
        Assert.All(assignment, r => Assert.All(r, id => Assert.InRange(id, 1, 3)));
    }

    [Fact]
    public void The_follower_shift_grows_after_every_round_so_followers_differ()
    {
        var assignment = ReplicaAssigner.Assign([0, 1, 2, 3], 8, 2, 0);
        // Round one: followers one step after the leader; round two: two steps after.
        Assert.Equal([[0, 1], [1, 2], [2, 3], [3, 0], [0, 2], [1, 3], [2, 0], [3, 1]], assignment);
    }

    [Fact]
    public void The_start_index_moves_the_first_leader()
    {
        Assert.Equal(2, ReplicaAssigner.Assign([1, 2, 3], 1, 1, 1)[0][0]);
        Assert.Equal(1, ReplicaAssigner.Assign([1, 2, 3], 1, 1, -3)[0][0]);
    }

    [Fact]
    public void A_factor_above_the_broker_count_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ReplicaAssigner.Assign([1, 2], 1, 3, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ReplicaAssigner.Assign([1, 2], 0, 1, 0));
    }
}
