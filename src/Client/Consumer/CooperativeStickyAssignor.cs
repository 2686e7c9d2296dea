namespace LogBroker.Client.Consumer;

/// <summary>
/// Kafka's "cooperative-sticky" assignor: a balanced assignment (members with identical subscriptions
/// differ by at most one partition) that keeps as many currently owned partitions as balance allows,
/// then withholds each partition that moves away from a current owner, so that the owner revokes it
/// first and the follow-up rebalance assigns it.
/// </summary>
/// <remarks>
/// Owned partitions count only for the highest generation among the members. A partition that two
/// members of that generation both claim stays with neither, and is withheld from whoever gets it.
/// </remarks>
internal sealed class CooperativeStickyAssignor : IPartitionAssignor
{
    /// <inheritdoc/>
    public string Name => "cooperative-sticky";

    /// <inheritdoc/>
    public bool IsCooperative => true;

    /// <inheritdoc/>
    public Dictionary<string, List<TopicPartition>> Assign(IReadOnlyList<AssignorMember> members, IReadOnlyDictionary<string, int> partitionCounts)
    {
        Dictionary<string, List<TopicPartition>> result = Assignors.EmptyAssignment(members);
        if (members.Count == 0)
        {
            return result;
        }

        List<AssignorMember> sorted = Assignors.Sorted(members, static (x, y) => string.CompareOrdinal(x.MemberId, y.MemberId));
        var subscriptions = new List<HashSet<string>>(sorted.Count);
        foreach (AssignorMember member in sorted)
        {
            subscriptions.Add(Assignors.Subscription(member, partitionCounts));
        }

        // Claims at the highest generation: the claimant, or null when more than one member claims it.
        int maxGeneration = int.MinValue;
        foreach (AssignorMember member in sorted)
        {
            maxGeneration = Math.Max(maxGeneration, member.Generation);
        }

        var claims = new Dictionary<TopicPartition, string?>();
        foreach (AssignorMember member in sorted)
        {
            if (member.Generation != maxGeneration)
            {
                continue;
            }

            foreach (TopicPartition partition in member.OwnedPartitions)
            {
                if (!claims.TryGetValue(partition, out string? claimant))
                {
                    claims[partition] = member.MemberId;
                }
                else if (claimant is not null && !string.Equals(claimant, member.MemberId, StringComparison.Ordinal))
                {
                    claims[partition] = null;
                }
            }
        }

        // The partitions each member may keep: its sole claims on existing partitions of topics it subscribes to.
        var owned = new List<List<TopicPartition>>(sorted.Count);
        for (int i = 0; i < sorted.Count; i++)
        {
            var seen = new HashSet<TopicPartition>();
            var keep = new List<TopicPartition>();
            foreach (TopicPartition partition in sorted[i].OwnedPartitions)
            {
                if (claims.TryGetValue(partition, out string? claimant)
                    && string.Equals(claimant, sorted[i].MemberId, StringComparison.Ordinal)
                    && subscriptions[i].Contains(partition.Topic)
                    && partition.Partition >= 0
                    && partition.Partition < partitionCounts[partition.Topic]
                    && seen.Add(partition))
                {
                    keep.Add(partition);
                }
            }

            keep.Sort(Assignors.ComparePartitions);
            owned.Add(keep);
        }

        var all = new List<TopicPartition>();
        foreach (string topic in Assignors.SortedTopics(subscriptions))
        {
            int partitionCount = partitionCounts[topic];
            for (int partition = 0; partition < partitionCount; partition++)
            {
                all.Add(new TopicPartition(topic, partition));
            }
        }

        List<List<TopicPartition>> assignment = AllSubscriptionsEqual(subscriptions)
            ? AssignEqual(owned, all)
            : AssignGeneral(subscriptions, owned, all);

        // The cooperative step: a partition another member still owns is withheld until it is revoked.
        for (int i = 0; i < sorted.Count; i++)
        {
            string memberId = sorted[i].MemberId;
            List<TopicPartition> partitions = assignment[i];
            partitions.RemoveAll(partition => claims.TryGetValue(partition, out string? claimant)
                && !string.Equals(claimant, memberId, StringComparison.Ordinal));
            partitions.Sort(Assignors.ComparePartitions);
            result[memberId] = partitions;
        }

        return result;
    }

    private static bool AllSubscriptionsEqual(List<HashSet<string>> subscriptions)
    {
        for (int i = 1; i < subscriptions.Count; i++)
        {
            if (!subscriptions[i].SetEquals(subscriptions[0]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Identical subscriptions: every member ends with the minimum quota or one more; each keeps its owned
    /// partitions up to the minimum quota, and one more while members with the maximum are still
    /// needed; the rest are dealt in turn to members below the minimum, then one each to members at it.
    /// </summary>
    private static List<List<TopicPartition>> AssignEqual(List<List<TopicPartition>> owned, List<TopicPartition> all)
    {
        int memberCount = owned.Count;
        int minQuota = all.Count / memberCount;
        int maxQuotaSlots = all.Count % memberCount;

        var assigned = new HashSet<TopicPartition>();
        var assignment = new List<List<TopicPartition>>(memberCount);
        foreach (List<TopicPartition> ownedByMember in owned)
        {
            var partitions = new List<TopicPartition>();
            for (int j = 0; j < ownedByMember.Count && j < minQuota; j++)
            {
                partitions.Add(ownedByMember[j]);
                assigned.Add(ownedByMember[j]);
            }

            assignment.Add(partitions);
        }

        for (int i = 0; i < memberCount && maxQuotaSlots > 0; i++)
        {
            if (owned[i].Count > minQuota)
            {
                assignment[i].Add(owned[i][minQuota]);
                assigned.Add(owned[i][minQuota]);
                maxQuotaSlots--;
            }
        }

        var unassigned = new List<TopicPartition>();
        foreach (TopicPartition partition in all)
        {
            if (!assigned.Contains(partition))
            {
                unassigned.Add(partition);
            }
        }

        // Dealt in turn to the members below the minimum quota, as the Java client does.
        var underMinQuota = new List<int>(memberCount);
        for (int i = 0; i < memberCount; i++)
        {
            if (assignment[i].Count < minQuota)
            {
                underMinQuota.Add(i);
            }
        }

        int next = 0;
        int turn = 0;
        while (underMinQuota.Count > 0)
        {
            if (turn >= underMinQuota.Count)
            {
                turn = 0;
            }

            List<TopicPartition> partitions = assignment[underMinQuota[turn]];
            partitions.Add(unassigned[next++]);
            if (partitions.Count == minQuota)
            {
                underMinQuota.RemoveAt(turn);
            }
            else
            {
                turn++;
            }
        }

        foreach (List<TopicPartition> partitions in assignment)
        {
            if (next == unassigned.Count)
            {
                break;
            }

            if (partitions.Count == minQuota && maxQuotaSlots > 0)
            {
                partitions.Add(unassigned[next++]);
                maxQuotaSlots--;
            }
        }

        return assignment;
    }

    /// <summary>
    /// Differing subscriptions: each member keeps all its owned partitions; the others go, the partitions
    /// with the fewest candidates first, to the least loaded subscriber; then single moves from a member to
    /// a subscriber with at least two partitions fewer are made (newly given partitions first) until none is
    /// left, so members with identical subscriptions differ by at most one.
    /// </summary>
    private static List<List<TopicPartition>> AssignGeneral(List<HashSet<string>> subscriptions, List<List<TopicPartition>> owned, List<TopicPartition> all)
    {
        int memberCount = owned.Count;
        var assigned = new HashSet<TopicPartition>();
        var assignment = new List<List<TopicPartition>>(memberCount);
        var ownedSets = new List<HashSet<TopicPartition>>(memberCount);
        foreach (List<TopicPartition> ownedByMember in owned)
        {
            assignment.Add(new List<TopicPartition>(ownedByMember));
            ownedSets.Add(new HashSet<TopicPartition>(ownedByMember));
            assigned.UnionWith(ownedByMember);
        }

        var subscriberCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (HashSet<string> subscription in subscriptions)
        {
            foreach (string topic in subscription)
            {
                subscriberCounts[topic] = subscriberCounts.GetValueOrDefault(topic) + 1;
            }
        }

        var unassigned = new List<TopicPartition>();
        foreach (TopicPartition partition in all)
        {
            if (!assigned.Contains(partition))
            {
                unassigned.Add(partition);
            }
        }

        unassigned.Sort((x, y) =>
        {
            int result = subscriberCounts[x.Topic].CompareTo(subscriberCounts[y.Topic]);
            return result != 0 ? result : Assignors.ComparePartitions(x, y);
        });

        foreach (TopicPartition partition in unassigned)
        {
            int target = -1;
            for (int i = 0; i < memberCount; i++)
            {
                if (subscriptions[i].Contains(partition.Topic)
                    && (target < 0 || assignment[i].Count < assignment[target].Count))
                {
                    target = i;
                }
            }

            assignment[target].Add(partition);
        }

        var order = new List<int>(memberCount);
        for (int i = 0; i < memberCount; i++)
        {
            order.Add(i);
        }

        // Each move lowers the sum of squared counts, so this ends.
        while (TryMoveOne(subscriptions, assignment, ownedSets, order))
        {
        }

        return assignment;
    }

    private static bool TryMoveOne(
        List<HashSet<string>> subscriptions,
        List<List<TopicPartition>> assignment,
        List<HashSet<TopicPartition>> ownedSets,
        List<int> order)
    {
        // Most loaded first; ties by member order.
        order.Sort((x, y) =>
        {
            int result = assignment[y].Count.CompareTo(assignment[x].Count);
            return result != 0 ? result : x.CompareTo(y);
        });

        for (int a = 0; a < order.Count; a++)
        {
            int from = order[a];
            for (int b = order.Count - 1; b > a; b--)
            {
                int to = order[b];
                if (assignment[to].Count + 1 >= assignment[from].Count)
                {
                    break;
                }

                int pick = -1;
                List<TopicPartition> partitions = assignment[from];
                for (int j = 0; j < partitions.Count; j++)
                {
                    if (subscriptions[to].Contains(partitions[j].Topic))
                    {
                        if (!ownedSets[from].Contains(partitions[j]))
                        {
                            pick = j;
                            break;
                        }

                        if (pick < 0)
                        {
                            pick = j;
                        }
                    }
                }

                if (pick >= 0)
                {
                    assignment[to].Add(partitions[pick]);
                    partitions.RemoveAt(pick);
                    return true;
                }
            }
        }

        return false;
    }
}
