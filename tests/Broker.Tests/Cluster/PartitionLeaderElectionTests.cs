using LogBroker.Broker.Cluster;
using LogBroker.Broker.Replication;

namespace LogBroker.Broker.Tests.Cluster;

public sealed class PartitionLeaderElectionTests
{
    private static readonly PartitionState State = new("t", 0, 1, 4, [1, 2, 3], [1, 3], 9);

    [Fact]
    public void A_gone_leader_is_replaced_by_the_first_live_isr_member_in_replica_order()
    {
        var next = PartitionLeaderElection.OnBrokersChanged(State, id => id != 1, false)!;
        Assert.Equal(3, next.Leader);
        Assert.Equal(5, next.LeaderEpoch);
        Assert.Equal([3], next.Isr);
        Assert.Equal(10, next.PartitionEpoch);
    }

    [Fact]
    public void A_live_replica_outside_the_isr_never_leads_unless_unclean_election_is_on()
    {
        var offline = PartitionLeaderElection.OnBrokersChanged(State, id => id == 2, false)!;
        Assert.Equal(-1, offline.Leader);
        Assert.Equal(5, offline.LeaderEpoch);
        Assert.Equal([1], offline.Isr);

        var unclean = PartitionLeaderElection.OnBrokersChanged(State, id => id == 2, true)!;
        Assert.Equal(2, unclean.Leader);
        Assert.Equal([2], unclean.Isr);
    }

    [Fact]
    public void A_gone_follower_leaves_the_isr_without_a_leader_change_and_nothing_changes_when_all_live()
    {
        var next = PartitionLeaderElection.OnBrokersChanged(State, id => id != 3, false)!;
        Assert.Equal(1, next.Leader);
        Assert.Equal(4, next.LeaderEpoch);
        Assert.Equal([1], next.Isr);
        Assert.Null(PartitionLeaderElection.OnBrokersChanged(State, _ => true, false));
    }

    [Fact]
    public void An_offline_partition_gets_its_last_isr_member_back_as_leader_when_it_returns()
    {
        var offline = PartitionLeaderElection.OnBrokersChanged(State, id => id == 2, false)!;
        var back = PartitionLeaderElection.OnBrokersChanged(offline, _ => true, false)!;
        Assert.Equal(1, back.Leader);
        Assert.Equal(6, back.LeaderEpoch);
    }
}
