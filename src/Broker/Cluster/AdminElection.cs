using LogBroker.Broker.Replication;
using LogBroker.Protocol;

namespace LogBroker.Broker.Cluster;

/// <summary>ElectLeaders' election type (the request's <c>ElectionType</c>: 0 preferred, 1 unclean).</summary>
public enum ElectionType : sbyte
{
    /// <summary>Move leadership to the first assigned replica when it is alive and in the ISR.</summary>
    Preferred = 0,

    /// <summary>Give a leaderless partition a leader: from the ISR when a member is alive, else any live replica.</summary>
    Unclean = 1,
}

/// <summary>
/// The pure rules of the elections an operator asks for (ElectLeaders, API 43), kept apart to test them alone.
/// As Kafka's controller: preferred election needs the preferred replica alive and in the ISR; unclean election
/// is only for a partition without a leader, prefers a live ISR member and otherwise takes the first live replica
/// outside the ISR, which then becomes the whole ISR (records only it had are all that survive).
/// </summary>
public static class AdminElection
{
    /// <summary>The partition's next state and the answer for it; the state is null when nothing is written.</summary>
    public static (PartitionState? Next, ErrorCode Error) Elect(PartitionState state, ElectionType type, Func<int, bool> isLive)
    {
        if (type == ElectionType.Preferred)
        {
            if (state.Replicas.Count == 0)
            {
                return (null, ErrorCode.PreferredLeaderNotAvailable);
            }

            var preferred = state.Replicas[0];
            if (state.Leader == preferred)
            {
                return (null, ErrorCode.ElectionNotNeeded);
            }

            if (!isLive(preferred) || !Contains(state.Isr, preferred))
            {
                return (null, ErrorCode.PreferredLeaderNotAvailable);
            }

            return (WithLeader(state, preferred, state.Isr), ErrorCode.None);
        }

        if (state.Leader >= 0)
        {
            return (null, ErrorCode.ElectionNotNeeded);
        }

        foreach (var id in state.Replicas)
        {
            if (Contains(state.Isr, id) && isLive(id))
            {
                return (WithLeader(state, id, state.Isr), ErrorCode.None);
            }
        }

        foreach (var id in state.Replicas)
        {
            if (isLive(id))
            {
                return (WithLeader(state, id, [id]), ErrorCode.None);
            }
        }

        return (null, ErrorCode.EligibleLeadersNotAvailable);
    }

    private static PartitionState WithLeader(PartitionState state, int leader, IReadOnlyList<int> isr) => state with
    {
        Leader = leader,
        LeaderEpoch = state.LeaderEpoch + 1,
        Isr = [.. isr],
        PartitionEpoch = state.PartitionEpoch + 1,
    };

    internal static bool Contains(IReadOnlyList<int> list, int id)
    {
        foreach (var x in list)
        {
            if (x == id)
            {
                return true;
            }
        }

        return false;
    }
}
