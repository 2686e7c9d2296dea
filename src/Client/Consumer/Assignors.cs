namespace LogBroker.Client.Consumer;

/// <summary>The assignor for each <see cref="PartitionAssignmentStrategy"/>.</summary>
internal static class Assignors
{
    public static IPartitionAssignor For(PartitionAssignmentStrategy strategy) => strategy switch
    {
        PartitionAssignmentStrategy.Range => new RangeAssignor(),
        PartitionAssignmentStrategy.RoundRobin => new RoundRobinAssignor(),
        PartitionAssignmentStrategy.CooperativeSticky => new CooperativeStickyAssignor(),
        _ => throw new ArgumentOutOfRangeException(nameof(strategy)),
    };

    internal static Dictionary<string, List<TopicPartition>> Empty(IReadOnlyList<AssignorMember> members)
    {
        var result = new Dictionary<string, List<TopicPartition>>(StringComparer.Ordinal);
        foreach (AssignorMember m in members)
        {
            result[m.MemberId] = [];
        }

        return result;
    }

    internal static List<AssignorMember> Sorted(IReadOnlyList<AssignorMember> members)
    {
        List<AssignorMember> sorted = [.. members];
        sorted.Sort(static (a, b) => string.CompareOrdinal(a.GroupInstanceId ?? a.MemberId, b.GroupInstanceId ?? b.MemberId));
        return sorted;
    }

    internal static bool Subscribes(AssignorMember member, string topic)
    {
        foreach (string t in member.Topics)
        {
            if (t == topic)
            {
                return true;
            }
        }

        return false;
    }

    internal static List<TopicPartition> AllPartitions(IReadOnlyList<AssignorMember> members, IReadOnlyDictionary<string, int> partitionCounts)
    {
        var topics = new SortedSet<string>(StringComparer.Ordinal);
        foreach (AssignorMember m in members)
        {
            foreach (string t in m.Topics)
            {
                if (partitionCounts.ContainsKey(t))
                {
                    topics.Add(t);
                }
            }
        }

        var all = new List<TopicPartition>();
        foreach (string t in topics)
        {
            for (int p = 0; p < partitionCounts[t]; p++)
            {
                all.Add(new TopicPartition(t, p));
            }
        }

        return all;
    }
}

/// <summary>Kafka's "range" assignor.</summary>
internal sealed class RangeAssignor : IPartitionAssignor
{
    public string Name => "range";

    public bool IsCooperative => false;

    public Dictionary<string, List<TopicPartition>> Assign(IReadOnlyList<AssignorMember> members, IReadOnlyDictionary<string, int> partitionCounts)
    {
        Dictionary<string, List<TopicPartition>> result = Assignors.Empty(members);
        List<AssignorMember> sorted = Assignors.Sorted(members);
        var topics = new SortedSet<string>(StringComparer.Ordinal);
        foreach (AssignorMember m in members)
        {
            foreach (string t in m.Topics)
            {
                topics.Add(t);
            }
        }

        foreach (string topic in topics)
        {
            if (!partitionCounts.TryGetValue(topic, out int count))
            {
                continue;
            }

            var subscribers = new List<AssignorMember>();
            foreach (AssignorMember m in sorted)
            {
                if (Assignors.Subscribes(m, topic))
                {
                    subscribers.Add(m);
                }
            }

            int per = count / subscribers.Count;
            int extra = count % subscribers.Count;
            int next = 0;
            for (int i = 0; i < subscribers.Count; i++)
            {
                int n = per + (i < extra ? 1 : 0);
                for (int k = 0; k < n; k++)
                {
                    result[subscribers[i].MemberId].Add(new TopicPartition(topic, next++));
                }
            }
        }

        return result;
    }
}

/// <summary>Kafka's "roundrobin" assignor.</summary>
internal sealed class RoundRobinAssignor : IPartitionAssignor
{
    public string Name => "roundrobin";

    public bool IsCooperative => false;

    public Dictionary<string, List<TopicPartition>> Assign(IReadOnlyList<AssignorMember> members, IReadOnlyDictionary<string, int> partitionCounts)
    {
        Dictionary<string, List<TopicPartition>> result = Assignors.Empty(members);
        List<AssignorMember> sorted = Assignors.Sorted(members);
        int cursor = 0;
        foreach (TopicPartition tp in Assignors.AllPartitions(members, partitionCounts))
        {
            for (int tries = 0; tries < sorted.Count; tries++)
            {
                AssignorMember m = sorted[cursor];
                cursor = (cursor + 1) % sorted.Count;
                if (Assignors.Subscribes(m, tp.Topic))
                {
                    result[m.MemberId].Add(tp);
                    break;
                }
            }
        }

        return result;
    }
}

/// <summary>
/// Kafka's "cooperative-sticky" assignor: balanced, keeps owned partitions where balance allows, and
/// withholds a partition that changes owner until its owner has revoked it.
/// </summary>
internal sealed class CooperativeStickyAssignor : IPartitionAssignor
{
    public string Name => "cooperative-sticky";

    public bool IsCooperative => true;

    public Dictionary<string, List<TopicPartition>> Assign(IReadOnlyList<AssignorMember> members, IReadOnlyDictionary<string, int> partitionCounts)
    {
        Dictionary<string, List<TopicPartition>> result = Assignors.Empty(members);
        List<AssignorMember> sorted = Assignors.Sorted(members);
        List<TopicPartition> all = Assignors.AllPartitions(members, partitionCounts);

        // Current owners: the claim of the highest generation wins.
        var owner = new Dictionary<TopicPartition, (string Member, int Generation)>();
        foreach (AssignorMember m in sorted)
        {
            foreach (TopicPartition tp in m.OwnedPartitions)
            {
                if (partitionCounts.TryGetValue(tp.Topic, out int count) && tp.Partition < count && Assignors.Subscribes(m, tp.Topic) &&
                    (!owner.TryGetValue(tp, out (string Member, int Generation) o) || m.Generation > o.Generation))
                {
                    owner[tp] = (m.MemberId, m.Generation);
                }
            }
        }

        // Each member may keep up to its fair share (the first `all % members` members one more).
        int memberCount = Math.Max(sorted.Count, 1);
        int floor = all.Count / memberCount;
        int withExtra = all.Count % memberCount;
        var quota = new Dictionary<string, int>(StringComparer.Ordinal);
        var kept = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (AssignorMember m in sorted)
        {
            kept[m.MemberId] = 0;
        }

        foreach (TopicPartition tp in all)
        {
            if (owner.TryGetValue(tp, out (string Member, int Generation) o))
            {
                kept[o.Member]++;
            }
        }

        // Members keeping the most get the "+1" quotas first, so stickiness is maximal.
        List<AssignorMember> byKept = [.. sorted];
        byKept.Sort((a, b) => kept[b.MemberId] != kept[a.MemberId] ? kept[b.MemberId].CompareTo(kept[a.MemberId]) : string.CompareOrdinal(a.MemberId, b.MemberId));
        for (int i = 0; i < byKept.Count; i++)
        {
            quota[byKept[i].MemberId] = floor + (i < withExtra ? 1 : 0);
        }

        var assignedTo = new Dictionary<TopicPartition, string>();
        var unassigned = new List<TopicPartition>();
        foreach (TopicPartition tp in all)
        {
            if (owner.TryGetValue(tp, out (string Member, int Generation) o) && result[o.Member].Count < quota[o.Member])
            {
                result[o.Member].Add(tp);
                assignedTo[tp] = o.Member;
            }
            else
            {
                unassigned.Add(tp);
            }
        }

        foreach (TopicPartition tp in unassigned)
        {
            AssignorMember? best = null;
            foreach (AssignorMember m in sorted)
            {
                if (!Assignors.Subscribes(m, tp.Topic))
                {
                    continue;
                }

                bool underQuota = result[m.MemberId].Count < quota[m.MemberId];
                if (best is null ||
                    (underQuota && result[best.MemberId].Count >= quota[best.MemberId]) ||
                    (underQuota == (result[best.MemberId].Count < quota[best.MemberId]) && result[m.MemberId].Count < result[best.MemberId].Count))
                {
                    best = m;
                }
            }

            if (best is not null)
            {
                result[best.MemberId].Add(tp);
                assignedTo[tp] = best.MemberId;
            }
        }

        // Cooperative step: a partition moving away from a live owner waits for the next round.
        foreach (KeyValuePair<TopicPartition, string> kv in assignedTo)
        {
            if (owner.TryGetValue(kv.Key, out (string Member, int Generation) o) && o.Member != kv.Value && result.ContainsKey(o.Member))
            {
                result[kv.Value].Remove(kv.Key);
            }
        }

        foreach (List<TopicPartition> list in result.Values)
        {
            list.Sort(static (a, b) => a.Topic == b.Topic ? a.Partition.CompareTo(b.Partition) : string.CompareOrdinal(a.Topic, b.Topic));
        }

        return result;
    }
}
