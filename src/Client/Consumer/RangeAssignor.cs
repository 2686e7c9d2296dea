namespace LogBroker.Client.Consumer;

/// <summary>
/// Kafka's "range" assignor: for each topic, its partitions are split into contiguous ranges over the
/// members that subscribe to it, in the Java client's member order; the first (partitions % members)
/// members get one partition more.
/// </summary>
internal sealed class RangeAssignor : IPartitionAssignor
{
    /// <inheritdoc/>
    public string Name => "range";

    /// <inheritdoc/>
    public bool IsCooperative => false;

    /// <inheritdoc/>
    public Dictionary<string, List<TopicPartition>> Assign(IReadOnlyList<AssignorMember> members, IReadOnlyDictionary<string, int> partitionCounts)
    {
        Dictionary<string, List<TopicPartition>> assignment = Assignors.EmptyAssignment(members);
        (List<AssignorMember> sorted, List<HashSet<string>> subscriptions) = Assignors.InJavaOrder(members, partitionCounts);

        var subscribers = new List<string>();
        foreach (string topic in Assignors.SortedTopics(subscriptions))
        {
            subscribers.Clear();
            for (int i = 0; i < sorted.Count; i++)
            {
                if (subscriptions[i].Contains(topic))
                {
                    subscribers.Add(sorted[i].MemberId);
                }
            }

            int partitionCount = partitionCounts[topic];
            int perMember = partitionCount / subscribers.Count;
            int withExtra = partitionCount % subscribers.Count;
            for (int i = 0; i < subscribers.Count; i++)
            {
                int start = (perMember * i) + Math.Min(i, withExtra);
                int length = perMember + (i < withExtra ? 1 : 0);
                List<TopicPartition> partitions = assignment[subscribers[i]];
                for (int partition = start; partition < start + length; partition++)
                {
                    partitions.Add(new TopicPartition(topic, partition));
                }
            }
        }

        return assignment;
    }
}
