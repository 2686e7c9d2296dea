using LogBroker.Broker.Replication;

namespace LogBroker.Broker.Cluster;

/// <summary>The pure rule of leader election from the ISR (Kafka's offline-partition election), kept apart to test it alone.</summary>
public static class PartitionLeaderElection
{
    /// <summary>
    /// The partition's next state when some of its brokers are gone, or null when nothing changes.
    /// A changed leader bumps the leader epoch; any change bumps the partition epoch.
    /// </summary>
    public static PartitionState? OnBrokersChanged(PartitionState state, Func<int, bool> isLive, bool uncleanLeaderElection)
    {
        var isr = new List<int>(state.Isr.Count);
        foreach (var id in state.Isr)
        {
            if (isLive(id))
            {
                isr.Add(id);
            }
        }

        var leader = state.Leader;
        if (leader < 0 || !isLive(leader))
        {
            leader = -1;
            foreach (var id in state.Replicas)
            {
                if (isr.Contains(id))
                {
                    leader = id;
                    break;
                }
            }

            if (leader < 0 && uncleanLeaderElection)
            {
                foreach (var id in state.Replicas)
                {
                    if (isLive(id))
                    {
                        leader = id;
                        isr.Add(id);
                        break;
                    }
                }
            }
        }

        if (isr.Count == 0)
        {
            // Never empty the ISR: its last member is the only replica known to hold every committed record.
            isr.AddRange(state.Isr.Count > 0 ? [state.Isr[^1]] : []);
            if (state.Isr.Count > 0 && state.Leader >= 0 && state.Isr.Contains(state.Leader))
            {
                isr.Clear();
                isr.Add(state.Leader);
            }
        }

        if (leader == state.Leader && SameMembers(isr, state.Isr))
        {
            return null;
        }

        return state with
        {
            Leader = leader,
            LeaderEpoch = leader == state.Leader ? state.LeaderEpoch : state.LeaderEpoch + 1,
            Isr = isr,
            PartitionEpoch = state.PartitionEpoch + 1,
        };
    }

    private static bool SameMembers(List<int> a, IReadOnlyList<int> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var id in b)
        {
            if (!a.Contains(id))
            {
                return false;
            }
        }

        return true;
    }
}
