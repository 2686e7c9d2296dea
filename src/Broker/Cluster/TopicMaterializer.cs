using LogBroker.Broker.Metadata;
using LogBroker.Broker.Producers;
using LogBroker.Broker.Replication;
using LogBroker.Protocol;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// Makes the local <see cref="TopicRegistry"/> follow the cluster's topics on this broker: a topic with a
/// replica here is created locally (the store's topic id, partition count and configs; every partition's log,
/// also those of partitions replicated elsewhere, because a local topic is one dense array of partitions),
/// grown when the cluster adds partitions, and deleted when its record goes. Each partition state of a
/// replica here is handed to <see cref="IReplicaManager.Apply"/> only once the local topic has that partition,
/// in partition-epoch order; before a topic is deleted locally its partitions are <see cref="IReplicaManager.Remove"/>d.
/// </summary>
/// <remarks>
/// <para>Local topics the store does not know (after the first read of <c>/topics</c> of a session) are
/// detached, not deleted (<see cref="TopicRegistry.Detach"/>): a missing record may be an operator pointing
/// the broker at the wrong etcd or key root, and deleting data on that evidence is unrecoverable. A warning
/// names each one. Only when the cluster creates a topic of the same name does the old data go.</para>
/// <para><c>__consumer_offsets</c> is not a registry topic: when this broker hosts a replica of it, its partitions'
/// logs become the registry's internal topic (<see cref="TopicRegistry.AttachInternal"/>) and their states are applied
/// like any other, so that committed offsets are replicated (Cluster/ReplicatedOffsetStore). Its partition count never
/// changes.</para>
/// <para>One lock serialises every change (the two watch loops call in concurrently); the registry's own
/// work under it is one metadata fsync per change.</para>
/// </remarks>
internal sealed partial class TopicMaterializer(
    TopicRegistry registry, ProducerStates producers, ClusterMetadataCache cache, IReplicaManager replicas, int brokerId, ILogger logger)
{
    private readonly Lock _sync = new();
    private readonly Dictionary<(string Topic, int Partition), int> _applied = [];

    /// <summary>Called once per session after the first read of the topic records: detaches local topics the cluster does not know.</summary>
    public void DetachUnknown()
    {
        lock (_sync)
        {
            foreach (var topic in registry.Topics)
            {
                if (cache.Topic(topic.Name) is null && registry.Detach(topic.Name))
                {
                    Detached(logger, topic.Name, topic.Partitions.Length);
                }
            }
        }
    }

    /// <summary>A topic record appeared or changed.</summary>
    public void TopicChanged(string name)
    {
        lock (_sync)
        {
            Reconcile(name);
        }
    }

    /// <summary>A topic record went (<paramref name="previous"/> as last seen): its local copy goes if it is that topic.</summary>
    public void TopicDeleted(TopicRecord previous)
    {
        lock (_sync)
        {
            if (registry.Get(previous.Name) is { } local && local.Id == previous.TopicId)
            {
                DeleteLocal(local);
            }
        }
    }

    /// <summary>A partition state appeared or changed (already in the cache).</summary>
    public void PartitionChanged(string topic, int partition)
    {
        lock (_sync)
        {
            if (cache.Topic(topic) is { } record && registry.Get(topic) is { } local && local.Id == record.TopicId)
            {
                ApplyIfNewer(topic, partition, local);
                return;
            }

            Reconcile(topic);
        }
    }

    /// <summary>A partition state went.</summary>
    public void PartitionDeleted(string topic, int partition)
    {
        lock (_sync)
        {
            if (_applied.Remove((topic, partition)))
            {
                replicas.Remove(topic, partition);
            }
        }
    }

    private void Reconcile(string name)
    {
        if (cache.Topic(name) is not { } record || !HostsReplica(record))
        {
            return;
        }

        if (TopicRegistry.IsInternal(name))
        {
            ReconcileOffsetsTopic(record);
            return;
        }

        if (registry.Detached.ContainsKey(name))
        {
            StrayReplaced(logger, name);
            if (registry.DeleteDetached(name, out var why) is not ErrorCode.None)
            {
                MaterializeFailed(logger, name, why);
                return;
            }
        }

        var local = registry.Get(name);
        if (local is not null && local.Id != record.TopicId)
        {
            // Deleted and created again while this broker was away: the old incarnation's data goes.
            DeleteLocal(local);
            local = null;
        }

        if (local is null)
        {
            var configs = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var (key, value) in record.Configs)
            {
                configs[key] = value;
            }

            var (error, message) = registry.Create([new TopicRequest(name, record.Partitions, configs, record.TopicId)], validateOnly: false)[0];
            if (error != ErrorCode.None)
            {
                MaterializeFailed(logger, name, message);
                return;
            }

            Materialized(logger, name, record.Partitions);
        }
        else
        {
            if (local.Partitions.Length < record.Partitions
                && registry.AddPartitions(name, record.Partitions, validateOnly: false, out var message) != ErrorCode.None)
            {
                MaterializeFailed(logger, name, message);
            }

            // AlterConfigs recorded by some broker: the record's overrides become this broker's.
            if (!SameConfigs(local.Overrides, record.Configs))
            {
                if (registry.SetConfigs(name, record.Configs, validateOnly: false, out var why) == ErrorCode.None)
                {
                    ConfigsApplied(logger, name, record.Configs.Count);
                }
                else
                {
                    MaterializeFailed(logger, name, why);
                }
            }
        }

        if (registry.Get(name) is not { } current)
        {
            return;
        }

        for (var p = 0; p < current.Partitions.Length; p++)
        {
            ApplyIfNewer(name, p, current);
        }
    }

    private void ReconcileOffsetsTopic(TopicRecord record)
    {
        Topic? local = registry.InternalTopic;
        if (local is null || local.Id != record.TopicId || local.Partitions.Length != record.Partitions)
        {
            local = registry.AttachInternal(record.TopicId, record.Partitions, Groups.OffsetLog.PartitionConfig());
            Materialized(logger, record.Name, record.Partitions);
        }

        for (var p = 0; p < local.Partitions.Length; p++)
        {
            ApplyIfNewer(record.Name, p, local);
        }
    }

    private void ApplyIfNewer(string topic, int partition, Topic local)
    {
        if (partition >= local.Partitions.Length || cache.Partition(topic, partition) is not { } state)
        {
            return;
        }

        if (!Contains(state.Replicas, brokerId) && !_applied.ContainsKey((topic, partition)))
        {
            return; // never a replica here; one reassigned away still gets the state that says so (it stops serving)
        }

        // Watch events arrive in revision order; the epoch check keeps a replayed or older state from going back.
        if (_applied.TryGetValue((topic, partition), out var last) && last >= state.PartitionEpoch)
        {
            return;
        }

        _applied[(topic, partition)] = state.PartitionEpoch;
        replicas.Apply(state);
    }

    private void DeleteLocal(Topic local)
    {
        for (var p = 0; p < local.Partitions.Length; p++)
        {
            if (_applied.Remove((local.Name, p)))
            {
                replicas.Remove(local.Name, p);
            }
        }

        var error = registry.Delete(local.Name, out var message);
        if (error is ErrorCode.None)
        {
            foreach (var log in local.Partitions)
            {
                producers.Forget(log);
            }

            Deleted(logger, local.Name);
        }
        else
        {
            MaterializeFailed(logger, local.Name, message);
        }
    }

    private bool HostsReplica(TopicRecord record)
    {
        for (var p = 0; p < record.Partitions; p++)
        {
            if (cache.Partition(record.Name, p) is { } state && Contains(state.Replicas, brokerId))
            {
                return true;
            }
        }

        return false;
    }

    private static bool SameConfigs(IReadOnlyDictionary<string, string> local, IReadOnlyDictionary<string, string> recorded)
    {
        if (local.Count != recorded.Count)
        {
            return false;
        }

        foreach (var (key, value) in recorded)
        {
            if (!local.TryGetValue(key, out var mine) || !string.Equals(mine, value, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private static bool Contains(IReadOnlyList<int> list, int id)
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

    [LoggerMessage(EventId = 1411, Level = LogLevel.Warning,
        Message = "Local topic {Topic} ({Partitions} partitions) is not in the cluster: no longer served, its data kept on disk (delete it by hand, or create the name in the cluster to replace it)")]
    private static partial void Detached(ILogger logger, string topic, int partitions);

    [LoggerMessage(EventId = 1412, Level = LogLevel.Warning, Message = "The cluster created topic {Topic}: the detached local topic of that name and its data are deleted")]
    private static partial void StrayReplaced(ILogger logger, string topic);

    [LoggerMessage(EventId = 1413, Level = LogLevel.Information, Message = "Topic {Topic} ({Partitions} partitions) materialised from the cluster")]
    private static partial void Materialized(ILogger logger, string topic, int partitions);

    [LoggerMessage(EventId = 1414, Level = LogLevel.Information, Message = "Topic {Topic} deleted in the cluster: deleted here")]
    private static partial void Deleted(ILogger logger, string topic);

    [LoggerMessage(EventId = 1416, Level = LogLevel.Information, Message = "Topic {Topic}: the cluster's {Count} config overrides applied here")]
    private static partial void ConfigsApplied(ILogger logger, string topic, int count);

    [LoggerMessage(EventId = 1415, Level = LogLevel.Error, Message = "Topic {Topic} could not be made to follow the cluster: {Reason}; retried on its next change")]
    private static partial void MaterializeFailed(ILogger logger, string topic, string? reason);
}
