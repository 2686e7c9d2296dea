namespace LogBroker.Client.Consumer;

/// <summary>The classic-protocol assignors, by strategy, and helpers they share.</summary>
internal static class Assignors
{
    private static readonly RangeAssignor RangeInstance = new();
    private static readonly RoundRobinAssignor RoundRobinInstance = new();
    private static readonly CooperativeStickyAssignor CooperativeStickyInstance = new();

    /// <summary>The assignor of a strategy.</summary>
    /// <param name="strategy">The strategy.</param>
    /// <returns>Its (stateless, shared) assignor.</returns>
    public static IPartitionAssignor For(PartitionAssignmentStrategy strategy) => strategy switch
    {
        PartitionAssignmentStrategy.Range => RangeInstance,
        PartitionAssignmentStrategy.RoundRobin => RoundRobinInstance,
        PartitionAssignmentStrategy.CooperativeSticky => CooperativeStickyInstance,
        _ => throw new ArgumentOutOfRangeException(nameof(strategy), strategy, "Unknown partition assignment strategy."),
    };

    /// <summary>
    /// The Java client's member order (<c>MemberInfo.compareTo</c>): static members first, by group
    /// instance id, then dynamic members by member id; ordinal comparisons.
    /// </summary>
    internal static int CompareMembers(AssignorMember x, AssignorMember y)
    {
        int result;
        if (x.GroupInstanceId is not null && y.GroupInstanceId is not null)
        {
            result = string.CompareOrdinal(x.GroupInstanceId, y.GroupInstanceId);
        }
        else if (x.GroupInstanceId is not null)
        {
            return -1;
        }
        else if (y.GroupInstanceId is not null)
        {
            return 1;
        }
        else
        {
            result = 0;
        }

        return result != 0 ? result : string.CompareOrdinal(x.MemberId, y.MemberId);
    }

    /// <summary>Orders partitions by topic (ordinal), then partition.</summary>
    internal static int ComparePartitions(TopicPartition x, TopicPartition y)
    {
        int result = string.CompareOrdinal(x.Topic, y.Topic);
        return result != 0 ? result : x.Partition.CompareTo(y.Partition);
    }

    /// <summary>An empty list for every member id.</summary>
    internal static Dictionary<string, List<TopicPartition>> EmptyAssignment(IReadOnlyList<AssignorMember> members)
    {
        var assignment = new Dictionary<string, List<TopicPartition>>(members.Count, StringComparer.Ordinal);
        foreach (AssignorMember member in members)
        {
            assignment[member.MemberId] = [];
        }

        return assignment;
    }

    /// <summary>The member's topics that have partitions (topics absent from metadata are ignored).</summary>
    internal static HashSet<string> Subscription(AssignorMember member, IReadOnlyDictionary<string, int> partitionCounts)
    {
        var topics = new HashSet<string>(StringComparer.Ordinal);
        foreach (string topic in member.Topics)
        {
            if (partitionCounts.TryGetValue(topic, out int count) && count > 0)
            {
                topics.Add(topic);
            }
        }

        return topics;
    }

    /// <summary>The members, sorted with <paramref name="comparison"/>.</summary>
    internal static List<AssignorMember> Sorted(IReadOnlyList<AssignorMember> members, Comparison<AssignorMember> comparison)
    {
        var sorted = new List<AssignorMember>(members);
        sorted.Sort(comparison);
        return sorted;
    }

    /// <summary>The members in the Java client's order, each with its subscription to known topics.</summary>
    internal static (List<AssignorMember> Sorted, List<HashSet<string>> Subscriptions) InJavaOrder(IReadOnlyList<AssignorMember> members, IReadOnlyDictionary<string, int> partitionCounts)
    {
        List<AssignorMember> sorted = Sorted(members, CompareMembers);
        var subscriptions = new List<HashSet<string>>(sorted.Count);
        foreach (AssignorMember member in sorted)
        {
            subscriptions.Add(Subscription(member, partitionCounts));
        }

        return (sorted, subscriptions);
    }

    /// <summary>The topics at least one of <paramref name="subscriptions"/> holds, sorted (ordinal).</summary>
    internal static List<string> SortedTopics(List<HashSet<string>> subscriptions)
    {
        var all = new HashSet<string>(StringComparer.Ordinal);
        foreach (HashSet<string> subscription in subscriptions)
        {
            all.UnionWith(subscription);
        }

        var topics = new List<string>(all);
        topics.Sort(StringComparer.Ordinal);
        return topics;
    }
}
