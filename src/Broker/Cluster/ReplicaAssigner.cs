namespace LogBroker.Broker.Cluster;

/// <summary>
/// Rack-unaware replica assignment as Kafka does it: the first replica of partition p is broker
/// (p + start) mod n, so leaders spread round-robin; followers follow the first at a shift that grows
/// by one after every n partitions, so that the replicas of one broker's leaders land on different brokers.
/// </summary>
public static class ReplicaAssigner
{
    /// <summary>
    /// Assigns <paramref name="partitions"/> partitions of <paramref name="replicationFactor"/> replicas over
    /// <paramref name="brokers"/> (sorted here), starting at <paramref name="startIndex"/> (callers pass a random one
    /// so that topics do not all lead on the same broker). Throws when the factor exceeds the broker count.
    /// </summary>
    public static int[][] Assign(IReadOnlyList<int> brokers, int partitions, int replicationFactor, int startIndex)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicationFactor, 1);
        if (replicationFactor > brokers.Count)
        {
            throw new ArgumentOutOfRangeException(
                nameof(replicationFactor), $"Replication factor {replicationFactor} is larger than the {brokers.Count} available brokers.");
        }

        var sorted = new int[brokers.Count];
        for (var i = 0; i < sorted.Length; i++)
        {
            sorted[i] = brokers[i];
        }

        Array.Sort(sorted);
        var n = sorted.Length;
        var start = ((startIndex % n) + n) % n;
        var shift = start;
        var result = new int[partitions][];
        for (var p = 0; p < partitions; p++)
        {
            if (p > 0 && p % n == 0)
            {
                shift++;
            }

            var first = (p + start) % n;
            var replicas = new int[replicationFactor];
            replicas[0] = sorted[first];
            for (var j = 0; j < replicationFactor - 1; j++)
            {
                // n - 1 other brokers: step 1 + (shift + j) mod (n - 1) past the first never lands on it.
                replicas[j + 1] = sorted[(first + 1 + ((shift + j) % (n - 1))) % n];
            }

            result[p] = replicas;
        }

        return result;
    }
}
