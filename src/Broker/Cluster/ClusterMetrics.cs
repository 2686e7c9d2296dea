using System.Diagnostics.Metrics;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// Cluster-mode instruments on the broker's <c>LogBroker</c> meter, read from the <see cref="ClusterMetadataCache"/>
/// on each scrape (nothing on the hot path): partitions this broker leads with fewer in-sync replicas than
/// replicas (Kafka's UnderReplicatedPartitions), partitions without a live leader as this broker sees them
/// (every broker reports the cluster's count, Kafka's OfflinePartitionsCount), leader changes seen since start,
/// whether this broker is the controller, and the registered brokers.
/// </summary>
internal static class ClusterMetrics
{
    public static void Register(Meter meter, ClusterService cluster)
    {
        var cache = cluster.Cache;
        meter.CreateObservableGauge("logbroker.cluster.under_replicated_partitions", () => UnderReplicated(cluster), "{partition}",
            "Partitions this broker leads whose ISR is smaller than their replica set");
        meter.CreateObservableGauge("logbroker.cluster.offline_partitions", () => Offline(cache), "{partition}",
            "Partitions of the cluster without a live leader, as this broker's metadata shows them");
        meter.CreateObservableCounter("logbroker.cluster.leader_changes", () => cache.LeaderChanges, "{change}",
            "Partition leader changes seen in the partition states since this broker started");
        meter.CreateObservableGauge("logbroker.cluster.is_controller", () => cluster.Controller is null ? 0 : 1, "",
            "1 while this broker is the controller, else 0");
        meter.CreateObservableGauge("logbroker.cluster.brokers", () => cache.Brokers.Count, "{broker}", "Registered brokers");
    }

    /// <summary>Partitions <paramref name="cluster"/>'s broker leads with an ISR smaller than the replicas.</summary>
    public static int UnderReplicated(ClusterService cluster)
    {
        var count = 0;
        foreach (var state in cluster.Cache.Partitions)
        {
            if (state.Leader == cluster.BrokerId && state.Isr.Count < state.Replicas.Count)
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>Partitions with no leader, or a leader that is not registered.</summary>
    public static int Offline(ClusterMetadataCache cache)
    {
        var count = 0;
        foreach (var state in cache.Partitions)
        {
            if (state.Leader < 0 || !cache.IsLive(state.Leader))
            {
                count++;
            }
        }

        return count;
    }
}
