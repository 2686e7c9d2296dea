using LogBroker.Broker.Replication;
using LogBroker.Protocol;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// The pure rules of partition reassignment (KIP-455, as Kafka's controller applies them), kept apart to test
/// them alone. A reassignment records the target first and the replicas being removed after it as the
/// partition's replicas (old ∪ new), with the adding and removing sets beside them; the adding replicas fetch
/// like any follower until the leader lets them into the ISR; then the reassignment finishes: replicas = target,
/// removing replicas leave the ISR, and a leader being removed hands over to an ISR member of the target.
/// Every change bumps the partition epoch; a change of leader or a shrunk replica set bumps the leader epoch
/// (so the removed replicas' fetches are fenced).
/// </summary>
public static class ReassignmentRules
{
    /// <summary>Whether a reassignment is in progress.</summary>
    public static bool InProgress(PartitionState state) => state.AddingReplicas.Count > 0 || state.RemovingReplicas.Count > 0;

    /// <summary>Starts (or replaces) a reassignment to <paramref name="target"/>; it finishes at once when no replica is being added.</summary>
    public static (PartitionState? Next, ErrorCode Error) Start(PartitionState state, IReadOnlyList<int> target, Func<int, bool> isLive)
    {
        if (target.Count == 0)
        {
            return (null, ErrorCode.InvalidReplicaAssignment);
        }

        for (var i = 0; i < target.Count; i++)
        {
            if (!isLive(target[i]) || IndexOf(target, target[i]) != i)
            {
                return (null, ErrorCode.InvalidReplicaAssignment);
            }
        }

        var removing = Except(state.Replicas, target);
        var adding = Except(target, state.Replicas);
        var merged = new List<int>(target);
        merged.AddRange(removing);
        if (!InProgress(state) && adding.Count == 0 && removing.Count == 0 && SameOrder(merged, state.Replicas))
        {
            return (null, ErrorCode.None);
        }

        var started = state with { Replicas = merged, AddingReplicas = adding, RemovingReplicas = removing, PartitionEpoch = state.PartitionEpoch + 1 };
        if (TryComplete(started, isLive) is { } done)
        {
            return (done with { PartitionEpoch = state.PartitionEpoch + 1 }, ErrorCode.None);
        }

        return (started, ErrorCode.None);
    }

    /// <summary>
    /// Cancels the reassignment: the adding replicas leave the replicas and the ISR. When they were the whole ISR,
    /// going back needs an unclean election (the first original replica becomes the ISR), refused unless enabled.
    /// </summary>
    public static (PartitionState? Next, ErrorCode Error) Cancel(PartitionState state, Func<int, bool> isLive, bool uncleanLeaderElection)
    {
        if (!InProgress(state))
        {
            return (null, ErrorCode.NoReassignmentInProgress);
        }

        var replicas = Except(state.Replicas, state.AddingReplicas);
        var isr = Except(state.Isr, state.AddingReplicas);
        if (replicas.Count == 0)
        {
            return (null, ErrorCode.InvalidReplicaAssignment);
        }

        if (isr.Count == 0)
        {
            if (!uncleanLeaderElection)
            {
                return (null, ErrorCode.InvalidReplicaAssignment);
            }

            isr.Add(replicas[0]);
        }

        return (Finish(state, replicas, isr, isLive), ErrorCode.None);
    }

    /// <summary>The finished state when every replica left after the removals is in the ISR, else null (not yet).</summary>
    public static PartitionState? TryComplete(PartitionState state, Func<int, bool> isLive)
    {
        if (!InProgress(state))
        {
            return null;
        }

        var isr = Except(state.Isr, state.RemovingReplicas);
        var replicas = Except(state.Replicas, state.RemovingReplicas);
        if (isr.Count == 0 || replicas.Count == 0)
        {
            return null;
        }

        foreach (var id in replicas)
        {
            if (!AdminElection.Contains(isr, id))
            {
                return null;
            }
        }

        return Finish(state, replicas, isr, isLive);
    }

    private static PartitionState Finish(PartitionState state, List<int> replicas, List<int> isr, Func<int, bool> isLive)
    {
        var leader = state.Leader;
        if (leader < 0 || !AdminElection.Contains(isr, leader))
        {
            leader = -1;
            foreach (var id in replicas)
            {
                if (AdminElection.Contains(isr, id) && isLive(id))
                {
                    leader = id;
                    break;
                }
            }
        }

        var shrunk = replicas.Count < state.Replicas.Count;
        return state with
        {
            Leader = leader,
            LeaderEpoch = leader != state.Leader || shrunk ? state.LeaderEpoch + 1 : state.LeaderEpoch,
            Replicas = replicas,
            Isr = isr,
            AddingReplicas = [],
            RemovingReplicas = [],
            PartitionEpoch = state.PartitionEpoch + 1,
        };
    }

    private static List<int> Except(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        var result = new List<int>(a.Count);
        foreach (var x in a)
        {
            if (!AdminElection.Contains(b, x))
            {
                result.Add(x);
            }
        }

        return result;
    }

    private static int IndexOf(IReadOnlyList<int> list, int id)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] == id)
            {
                return i;
            }
        }

        return -1;
    }

    private static bool SameOrder(List<int> a, IReadOnlyList<int> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (a[i] != b[i])
            {
                return false;
            }
        }

        return true;
    }
}
