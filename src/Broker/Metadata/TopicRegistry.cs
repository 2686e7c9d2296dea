using System.Collections.Concurrent;
using LogBroker.Protocol;
using LogBroker.Storage;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Metadata;

/// <summary>A topic as handlers see it: an immutable snapshot, replaced as a whole on change.</summary>
internal sealed record Topic(string Name, Guid Id, LogConfig Config, IReadOnlyDictionary<string, string> Overrides, PartitionLog[] Partitions);

/// <summary>The creation limits of <see cref="TopicRegistry"/> (from <see cref="BrokerOptions"/>).</summary>
/// <param name="MaxPartitionsPerTopic">A topic may not have more partitions (INVALID_PARTITIONS).</param>
/// <param name="MaxPartitionsPerBroker">All topics together may not have more (POLICY_VIOLATION).</param>
internal sealed record TopicLimits(int MaxPartitionsPerTopic = 10_000, int MaxPartitionsPerBroker = 100_000)
{
    public static TopicLimits From(BrokerOptions options) => new(options.MaxPartitionsPerTopic, options.MaxPartitionsPerBroker);
}

/// <summary>One topic of a CreateTopics; <paramref name="Id"/> is the cluster's id in cluster mode (null: a new one).</summary>
internal sealed record TopicRequest(string Name, int Partitions, IReadOnlyDictionary<string, string?> Configs, Guid? Id = null);

/// <summary>
/// The cluster's metadata on this single node: cluster id, topics (id, partition count, config
/// overrides) and the producer-id counter, kept in the <see cref="MetadataLog"/> of the data directory.
/// </summary>
/// <remarks>
/// <para>Every change is persisted first and published in memory after: a change that cannot be
/// made durable fails its request (KAFKA_STORAGE_ERROR) and leaves memory as it was.</para>
/// <para>Locks: reads are lock-free (a concurrent dictionary of immutable <see cref="Topic"/>
/// snapshots). <c>_gate</c> (short) reserves names and partition counts for changes in flight;
/// the filesystem work of creating or deleting partitions runs under no registry lock;
/// <c>_writeLock</c> covers one metadata append (one fsync) and the publication that follows, so the
/// log's order is memory's order; <c>_pidLock</c> covers producer-id allocation, which touches the
/// disk once per <see cref="ProducerIdBlock"/> ids. InitProducerId and AlterConfigs therefore wait
/// at most for one metadata fsync, never for partitions being created or deleted.</para>
/// <para>Crash safety: a topic's partition directories are created before its record and deleted
/// after its tombstone. At start, when metadata exists, a partition directory that the metadata does
/// not name (a topic deleted, or created but never recorded) is a stray and is deleted, as KRaft
/// brokers do; so a topic is either fully there or fully gone, and never comes back. Only when the
/// data directory has no metadata at all are partition directories turned back into topics (with new
/// ids and default configs), and a warning is logged.</para>
/// </remarks>
internal sealed partial class TopicRegistry : IDisposable
{
    /// <summary>Producer ids reserved on disk at a time.</summary>
    public const long ProducerIdBlock = 1000;

    private static readonly TimeSpan BusyWait = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, Topic> _topics = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Guid, string> _names = new(); // topic id → name, kept with _topics by Publish/Unpublish
    private readonly object _gate = new();
    private readonly HashSet<string> _busy = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _blocked = new(StringComparer.Ordinal);
    private readonly Lock _writeLock = new();
    private readonly Lock _pidLock = new();
    private readonly LogManager _logs;
    private readonly LogConfig _defaults;
    private readonly TopicLimits _limits;
    private readonly ILogger _logger;
    private readonly MetadataLog _log;
    private int _partitionCount;
    private int _pendingPartitions;
    private long _nextProducerId;
    private long _reservedProducerIds;

    public TopicRegistry(LogManager logs, LogConfig defaults, ILogger<TopicRegistry> logger, TopicLimits? limits = null,
        long metadataSnapshotBytes = MetadataLog.DefaultSnapshotBytes)
    {
        _logs = logs;
        _defaults = defaults;
        _logger = logger;
        _limits = limits ?? new TopicLimits();
        _log = MetadataLog.Open(logs.DataDirectory, logger, out MetadataState state, metadataSnapshotBytes);
        ClusterId = state.ClusterId;
        _nextProducerId = _reservedProducerIds = state.ReservedProducerIds;
        foreach (TopicState topic in state.Topics.Values)
        {
            LogConfig config = _defaults;
            foreach ((string name, string value) in topic.Configs)
            {
                if (TopicConfigs.TryApply(config, name, value, out LogConfig applied, out string? error))
                {
                    config = applied;
                }
                else
                {
                    Log.StoredConfigIgnored(_logger, topic.Name, name, error);
                }
            }

            Publish(Open(topic.Name, topic.Id, 0, topic.Partitions, config, topic.Configs, []));
            _partitionCount += topic.Partitions;
        }

        if (state.Existed)
        {
            DeleteStrays();
        }
        else
        {
            RecoverOrphans();
        }

        SnapshotIfDue();
    }

    /// <summary>Generated once per data directory, as Kafka's cluster id (22 characters of base64url).</summary>
    public string ClusterId { get; }

    public ICollection<Topic> Topics => _topics.Values;

    /// <summary>The config of a topic without overrides (the Storage:Log section of broker.json).</summary>
    public LogConfig Defaults => _defaults;

    /// <summary>The metadata log (for tests).</summary>
    internal MetadataLog MetadataLog => _log;

    public Topic? Get(string name) => _topics.GetValueOrDefault(name);

    /// <summary>The broker's own <c>__consumer_offsets</c> (set by Groups/OffsetLog's owner): readable (Metadata, Fetch, ListOffsets), never among <see cref="Topics"/> nor changed through this registry.</summary>
    public Topic? InternalTopic { get; set; }

    /// <summary>
    /// Checks a topic's whole set of overrides against the defaults (INVALID_CONFIG with the reason), giving the
    /// config they make; nothing changes. Cluster mode checks here before recording them in the controller store.
    /// </summary>
    public ErrorCode ValidateConfigs(IReadOnlyDictionary<string, string> overrides, out LogConfig config, out string? message)
    {
        message = null;
        config = _defaults;
        foreach ((string key, string value) in overrides)
        {
            if (!TopicConfigs.TryApply(config, key, value, out config, out message))
            {
                return ErrorCode.InvalidConfig;
            }
        }

        return ErrorCode.None;
    }

    /// <summary>
    /// Cluster mode: makes <see cref="InternalTopic"/> the cluster's <c>__consumer_offsets</c> (its topic id and
    /// partition count as the controller recorded them; every partition's log opened here, in the same directories a
    /// single node's offset log uses for partition 0), and returns it.
    /// </summary>
    public Topic AttachInternal(Guid id, int partitions, LogConfig config)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(partitions);
        var logs = new PartitionLog[partitions];
        for (int p = 0; p < partitions; p++)
        {
            logs[p] = _logs.GetOrCreate(new TopicPartition(InternalTopicName, p), config);
            logs[p].UpdateConfig(config);
        }

        var topic = new Topic(InternalTopicName, id, config, new Dictionary<string, string>(StringComparer.Ordinal), logs);
        InternalTopic = topic;
        return topic;
    }

    /// <summary>A topic clients may read: a user topic or the internal one.</summary>
    public Topic? Readable(string name) => Get(name) ?? (InternalTopic is { } i && i.Name == name ? i : null);

    /// <summary>A partition clients may read (Fetch, ListOffsets): of a user topic or the internal one.</summary>
    public PartitionLog? ReadablePartition(string topic, int partition) =>
        Readable(topic) is { } t && (uint)partition < (uint)t.Partitions.Length ? t.Partitions[partition] : null;

    /// <summary>A topic by its id (Fetch v13+, Metadata, DeleteTopics v6): one lookup, not a scan.</summary>
    public Topic? Get(Guid id) =>
        _names.TryGetValue(id, out string? name) && _topics.TryGetValue(name, out Topic? topic) && topic.Id == id ? topic
        : InternalTopic is { } i && i.Id == id ? i : null; // by id the internal topic reads too

    /// <summary>Makes a topic visible by name and by id.</summary>
    private void Publish(Topic topic)
    {
        _topics[topic.Name] = topic;
        _names[topic.Id] = topic.Name;
    }

    /// <summary>Removes a topic from both maps.</summary>
    private void Unpublish(string name)
    {
        if (_topics.TryRemove(name, out Topic? removed))
        {
            _names.TryRemove(new KeyValuePair<Guid, string>(removed.Id, removed.Name));
        }
    }

    /// <summary>The partition's log, or null when the topic or partition does not exist.</summary>
    public PartitionLog? Partition(string topic, int partition) =>
        _topics.TryGetValue(topic, out Topic? t) && (uint)partition < (uint)t.Partitions.Length ? t.Partitions[partition] : null;

    /// <summary>Creates a topic, or says why not. <paramref name="validateOnly"/> checks without creating.</summary>
    public ErrorCode Create(string name, int partitions, IReadOnlyDictionary<string, string?> configs, bool validateOnly, out string? message)
    {
        (ErrorCode error, string? text) = Create([new TopicRequest(name, partitions, configs)], validateOnly)[0];
        message = text;
        return error;
    }

    /// <summary>
    /// Creates the topics (each on its own: one may fail and the others succeed), with one metadata
    /// fsync for all of them. <paramref name="validateOnly"/> checks without creating.
    /// </summary>
    public (ErrorCode Error, string? Message)[] Create(IReadOnlyList<TopicRequest> requests, bool validateOnly)
    {
        var results = new (ErrorCode Error, string? Message)[requests.Count];
        var pending = new List<Pending>(requests.Count);
        for (int i = 0; i < requests.Count; i++)
        {
            if (Validate(requests[i], out LogConfig config, out Dictionary<string, string> overrides) is { } invalid)
            {
                results[i] = invalid;
            }
            else
            {
                pending.Add(new Pending(i, requests[i].Name, requests[i].Partitions, config, overrides, requests[i].Id ?? Guid.NewGuid()));
            }
        }

        var accepted = new List<Pending>(pending.Count);
        lock (_gate)
        {
            foreach (Pending topic in pending)
            {
                if (_topics.ContainsKey(topic.Name) || _busy.Contains(topic.Name) || _detached.ContainsKey(topic.Name))
                {
                    results[topic.Index] = (ErrorCode.TopicAlreadyExists, _topics.ContainsKey(topic.Name)
                        ? $"Topic '{topic.Name}' already exists."
                        : $"Topic '{topic.Name}' is being created or deleted.");
                }
                else if (_blocked.TryGetValue(topic.Name, out string? why))
                {
                    results[topic.Index] = (ErrorCode.KafkaStorageError, why);
                }
                else if ((long)_partitionCount + _pendingPartitions + topic.Partitions > _limits.MaxPartitionsPerBroker)
                {
                    results[topic.Index] = (ErrorCode.PolicyViolation,
                        $"The broker holds {_partitionCount + _pendingPartitions} partitions; {topic.Partitions} more would pass its limit of {_limits.MaxPartitionsPerBroker} (Broker:MaxPartitionsPerBroker).");
                }
                else
                {
                    results[topic.Index] = (ErrorCode.None, null);
                    if (!validateOnly)
                    {
                        _busy.Add(topic.Name);
                        _pendingPartitions += topic.Partitions;
                        accepted.Add(topic);
                    }
                }
            }
        }

        if (accepted.Count == 0)
        {
            return results;
        }

        try
        {
            var opened = new List<Topic>(accepted.Count);
            foreach (Pending topic in accepted)
            {
                try
                {
                    opened.Add(Open(topic.Name, topic.Id, 0, topic.Partitions, topic.Config, topic.Overrides, []));
                }
                catch (Exception e) when (IsStorageFailure(e))
                {
                    Log.CreateFailed(_logger, e, topic.Name);
                    results[topic.Index] = (ErrorCode.KafkaStorageError, $"Creating the partitions of '{topic.Name}' failed: {e.Message}");
                }
            }

            if (opened.Count > 0)
            {
                var records = new List<MetadataRecord>(opened.Count);
                foreach (Topic topic in opened)
                {
                    records.Add(MetadataRecord.Created(topic.Name, topic.Id, topic.Partitions.Length, topic.Overrides));
                }

                bool persisted = false;
                lock (_writeLock)
                {
                    try
                    {
                        _log.Append(records);
                        persisted = true;
                    }
                    catch (IOException e)
                    {
                        Log.PersistFailed(_logger, e, opened[0].Name);
                        foreach (Pending topic in accepted)
                        {
                            if (results[topic.Index].Error == ErrorCode.None)
                            {
                                results[topic.Index] = (ErrorCode.KafkaStorageError, $"The metadata could not be written: {e.Message}");
                            }
                        }
                    }

                    if (persisted)
                    {
                        foreach (Topic topic in opened)
                        {
                            Publish(topic);
                        }

                        lock (_gate)
                        {
                            foreach (Topic topic in opened)
                            {
                                _partitionCount += topic.Partitions.Length;
                            }
                        }

                        SnapshotIfDue();
                    }
                }

                foreach (Topic topic in opened)
                {
                    if (persisted)
                    {
                        Log.TopicCreated(_logger, topic.Name, topic.Partitions.Length);
                    }
                    else
                    {
                        DeletePartitions(topic.Name, 0, topic.Partitions.Length);
                    }
                }
            }
        }
        finally
        {
            Release(accepted);
        }

        return results;
    }

    /// <summary>Deletes a topic and its data: the tombstone is durable before any directory goes.</summary>
    public ErrorCode Delete(string name) => Delete(name, out _);

    /// <summary>Deletes a topic and its data: the tombstone is durable before any directory goes.</summary>
    public ErrorCode Delete(string name, out string? message)
    {
        message = null;
        if (!Reserve(name, out Topic? topic, out ErrorCode error, out message))
        {
            return error;
        }

        try
        {
            lock (_writeLock)
            {
                try
                {
                    _log.Append([MetadataRecord.Deleted(name, topic.Id)]);
                }
                catch (IOException e)
                {
                    Log.PersistFailed(_logger, e, name);
                    message = $"The metadata could not be written: {e.Message}";
                    return ErrorCode.KafkaStorageError;
                }

                Unpublish(name);
                lock (_gate)
                {
                    _partitionCount -= topic.Partitions.Length;
                }

                SnapshotIfDue();
            }

            Log.TopicDeleted(_logger, name);
            DeletePartitions(name, 0, topic.Partitions.Length);
            return ErrorCode.None;
        }
        finally
        {
            Release(name, 0);
        }
    }

    /// <summary>Raises the partition count to <paramref name="total"/>.</summary>
    public ErrorCode AddPartitions(string name, int total, bool validateOnly, out string? message)
    {
        message = null;
        if (!Reserve(name, out Topic? topic, out ErrorCode error, out message))
        {
            return error;
        }

        int added = 0;
        try
        {
            int current = topic.Partitions.Length;
            if (total <= current || total > _limits.MaxPartitionsPerTopic)
            {
                message = $"Topic '{name}' has {current} partitions; the new count must be larger and at most {_limits.MaxPartitionsPerTopic} (Broker:MaxPartitionsPerTopic).";
                return ErrorCode.InvalidPartitions;
            }

            lock (_gate)
            {
                if ((long)_partitionCount + _pendingPartitions + (total - current) > _limits.MaxPartitionsPerBroker)
                {
                    message = $"The broker holds {_partitionCount + _pendingPartitions} partitions; {total - current} more would pass its limit of {_limits.MaxPartitionsPerBroker} (Broker:MaxPartitionsPerBroker).";
                    return ErrorCode.PolicyViolation;
                }

                if (validateOnly)
                {
                    return ErrorCode.None;
                }

                added = total - current;
                _pendingPartitions += added;
            }

            Topic grown;
            try
            {
                grown = Open(name, topic.Id, current, total, topic.Config, topic.Overrides, topic.Partitions);
            }
            catch (Exception e) when (IsStorageFailure(e))
            {
                Log.CreateFailed(_logger, e, name);
                message = $"Creating partitions of '{name}' failed: {e.Message}";
                return ErrorCode.KafkaStorageError;
            }

            lock (_writeLock)
            {
                try
                {
                    _log.Append([MetadataRecord.PartitionsSet(name, topic.Id, total)]);
                }
                catch (IOException e)
                {
                    Log.PersistFailed(_logger, e, name);
                    message = $"The metadata could not be written: {e.Message}";
                    DeletePartitions(name, current, total);
                    return ErrorCode.KafkaStorageError;
                }

                Topic latest = _topics[name]; // configs may have changed meanwhile
                for (int p = current; p < total; p++)
                {
                    grown.Partitions[p].UpdateConfig(latest.Config);
                }

                _topics[name] = latest with { Partitions = grown.Partitions };
                lock (_gate)
                {
                    _partitionCount += added;
                }

                SnapshotIfDue();
            }

            return ErrorCode.None;
        }
        finally
        {
            Release(name, added);
        }
    }

    /// <summary>Replaces a topic's overrides (AlterConfigs, IncrementalAlterConfigs) and applies them to every partition.</summary>
    public ErrorCode SetConfigs(string name, IReadOnlyDictionary<string, string> overrides, bool validateOnly, out string? message)
    {
        if (ValidateConfigs(overrides, out LogConfig config, out message) is var invalid and not ErrorCode.None)
        {
            return invalid;
        }

        lock (_writeLock)
        {
            if (!_topics.TryGetValue(name, out Topic? topic))
            {
                message = $"Topic '{name}' does not exist.";
                return ErrorCode.UnknownTopicOrPartition;
            }

            if (validateOnly)
            {
                return ErrorCode.None;
            }

            var copy = new Dictionary<string, string>(overrides, StringComparer.Ordinal);
            try
            {
                _log.Append([MetadataRecord.ConfigsSet(name, topic.Id, copy)]);
            }
            catch (IOException e)
            {
                Log.PersistFailed(_logger, e, name);
                message = $"The metadata could not be written: {e.Message}";
                return ErrorCode.KafkaStorageError;
            }

            foreach (PartitionLog partition in topic.Partitions)
            {
                partition.UpdateConfig(config);
            }

            _topics[name] = topic with { Config = config, Overrides = copy };
            SnapshotIfDue();
            return ErrorCode.None;
        }
    }

    /// <summary>A producer id never handed out before, even across restarts: ids are reserved on disk in blocks, before use.</summary>
    /// <exception cref="IOException">A new block could not be reserved durably; no id is handed out.</exception>
    public long AllocateProducerId()
    {
        lock (_pidLock)
        {
            if (_nextProducerId >= _reservedProducerIds)
            {
                long reserve = _nextProducerId + ProducerIdBlock;
                try
                {
                    _log.Append([MetadataRecord.ProducerIdsReserved(reserve)]);
                }
                catch (IOException e)
                {
                    Log.PersistFailed(_logger, e, "(producer ids)");
                    throw;
                }

                _reservedProducerIds = reserve;
            }

            return _nextProducerId++;
        }
    }

    public void Dispose() => _log.Dispose();

    /// <summary>The broker's own topic (committed offsets, see Groups/OffsetLog): not a user topic.</summary>
    public static bool IsInternal(string topic) => topic == InternalTopicName;

    /// <summary>The name of the broker's own topic.</summary>
    public const string InternalTopicName = "__consumer_offsets";

    private sealed record Pending(int Index, string Name, int Partitions, LogConfig Config, Dictionary<string, string> Overrides, Guid Id);

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Created topic {Topic} with {Partitions} partitions")]
        public static partial void TopicCreated(ILogger logger, string topic, int partitions);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Deleted topic {Topic}")]
        public static partial void TopicDeleted(ILogger logger, string topic);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Warning,
            Message = "Topic {Topic} ({Partitions} partitions) was on disk but the data directory had no metadata; recovered with a new id and default configs")]
        public static partial void OrphanRecovered(ILogger logger, string topic, int partitions);

        [LoggerMessage(EventId = 2004, Level = LogLevel.Warning,
            Message = "Deleting {Count} partition directories the metadata does not name (deleted topics or unrecorded creations), e.g. {Example}")]
        public static partial void StraysDeleted(ILogger logger, int count, string example);

        [LoggerMessage(EventId = 2005, Level = LogLevel.Error, Message = "Deleting partitions of {Topic} failed; they go at the next start")]
        public static partial void DeleteIncomplete(ILogger logger, Exception exception, string topic);

        [LoggerMessage(EventId = 2006, Level = LogLevel.Error, Message = "The metadata change for {Topic} could not be persisted; it was not made")]
        public static partial void PersistFailed(ILogger logger, Exception exception, string topic);

        [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "Topic {Topic}: stored config {Config} ignored: {Reason}")]
        public static partial void StoredConfigIgnored(ILogger logger, string topic, string config, string? reason);

        [LoggerMessage(EventId = 2008, Level = LogLevel.Error, Message = "Creating the partitions of {Topic} failed")]
        public static partial void CreateFailed(ILogger logger, Exception exception, string topic);

        [LoggerMessage(EventId = 2009, Level = LogLevel.Error, Message = "Writing a metadata snapshot failed; the log keeps growing until one succeeds")]
        public static partial void SnapshotFailed(ILogger logger, Exception exception);
    }
}
