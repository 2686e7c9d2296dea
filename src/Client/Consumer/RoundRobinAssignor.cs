namespace LogBroker.Client.Consumer;

/// <summary>
/// Kafka's "roundrobin" assignor: all partitions of all subscribed topics, sorted by topic then partition,
/// dealt in turn to the members in the Java client's member order, skipping members that do not
/// subscribe to the partition's topic.
/// </summary>
internal sealed class RoundRobinAssignor : IPartitionAssignor
{
    /// <inheritdoc/>
    public string Name => "roundrobin";

    /// <inheritdoc/>
    public bool IsCooperative => false;

    /// <inheritdoc/>
    public Dictionary<string, List<TopicPartition>> Assign(IReadOnlyList<AssignorMember> members, IReadOnlyDictionary<string, int> partitionCounts)
    {
        Dictionary<string, List<TopicPartition>> assignment = Assignors.EmptyAssignment(members);
        (List<AssignorMember> sorted, List<HashSet<string>> subscriptions) = Assignors.InJavaOrder(members, partitionCounts);

        int cursor = 0;
        foreach (string topic in Assignors.SortedTopics(subscriptions))
        {
            int partitionCount = partitionCounts[topic];
            for (int partition = 0; partition < partitionCount; partition++)
            {
                // Some member subscribes to the topic, so this stops within one turn.
                while (!subscriptions[cursor].Contains(topic))
                {
                    cursor = (cursor + 1) % sorted.Count;
                }

                assignment[sorted[cursor].MemberId].Add(new TopicPartition(topic, partition));
                cursor = (cursor + 1) % sorted.Count;
            }
        }

        return assignment;
    }
}
