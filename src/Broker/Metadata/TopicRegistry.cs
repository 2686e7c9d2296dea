using System.Collections.Concurrent;
using System.Text.Json;
using LogBroker.Protocol;
using LogBroker.Storage;
using LogBroker.Storage.Checkpoints;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Metadata;

/// <summary>A topic as handlers see it: an immutable snapshot, replaced as a whole on change.</summary>
internal sealed record Topic(string Name, Guid Id, LogConfig Config, IReadOnlyDictionary<string, string> Overrides, PartitionLog[] Partitions);

/// <summary>
/// The cluster's metadata on this single node: cluster id, topics (id, partition count, config
/// overrides) and the producer-id counter, kept in <c>cluster-metadata.json</c> in the data directory.
/// </summary>
/// <remarks>
/// Reads are lock-free (a concurrent dictionary of immutable <see cref="Topic"/> snapshots); changes
/// are serialized by one lock and written to disk atomically before they are visible, so a crash
/// never leaves a topic half created in the metadata. If the file is lost, topics are rebuilt from
/// the partition directories (with new ids and default configs), and a warning is logged.
/// </remarks>
internal sealed partial class TopicRegistry
{
    private const string FileName = "cluster-metadata.json";
    private const long ProducerIdBlock = 1000;
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    private readonly ConcurrentDictionary<string, Topic> _topics = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly LogManager _logs;
    private readonly LogConfig _defaults;
    private readonly ILogger _logger;
    private readonly string _path;
    private long _nextProducerId;
    private long _reservedProducerIds;

    public TopicRegistry(LogManager logs, LogConfig defaults, ILogger<TopicRegistry> logger)
    {
        _logs = logs;
        _defaults = defaults;
        _logger = logger;
        _path = Path.Combine(logs.DataDirectory, FileName);
        MetadataFile? file = File.Exists(_path) ? JsonSerializer.Deserialize<MetadataFile>(File.ReadAllBytes(_path)) : null;
        ClusterId = file?.ClusterId ?? NewClusterId();
        _nextProducerId = _reservedProducerIds = file?.ReservedProducerIds ?? 0;
        foreach (TopicFile topic in file?.Topics ?? [])
        {
            LogConfig config = _defaults;
            foreach ((string name, string value) in topic.Configs)
            {
                if (TopicConfigs.TryApply(config, name, value, out LogConfig applied, out _))
                {
                    config = applied;
                }
            }

            _topics[topic.Name] = Open(topic.Name, topic.Id, topic.Partitions, config, topic.Configs);
        }

        RecoverOrphans();
        Save();
    }

    /// <summary>Generated once per data directory, as Kafka's cluster id (22 characters of base64url).</summary>
    public string ClusterId { get; }

    public ICollection<Topic> Topics => _topics.Values;

    /// <summary>The config of a topic without overrides (the Storage:Log section of broker.json).</summary>
    public LogConfig Defaults => _defaults;

    public Topic? Get(string name) => _topics.GetValueOrDefault(name);

    public Topic? Get(Guid id)
    {
        foreach (Topic topic in _topics.Values)
        {
            if (topic.Id == id)
            {
                return topic;
            }
        }

        return null;
    }

    /// <summary>The partition's log, or null when the topic or partition does not exist.</summary>
    public PartitionLog? Partition(string topic, int partition) =>
        _topics.TryGetValue(topic, out Topic? t) && (uint)partition < (uint)t.Partitions.Length ? t.Partitions[partition] : null;

    /// <summary>Creates a topic, or says why not. <paramref name="validateOnly"/> checks without creating.</summary>
    public ErrorCode Create(string name, int partitions, IReadOnlyDictionary<string, string?> configs, bool validateOnly, out string? message)
    {
        message = null;
        if (!TopicPartition.IsValidTopicName(name))
        {
            message = $"'{name}' is not a valid topic name (1-249 of [a-zA-Z0-9._-]).";
            return ErrorCode.InvalidTopicException;
        }

        if (IsInternal(name))
        {
            message = $"'{name}' is reserved for the broker's own use.";
            return ErrorCode.InvalidTopicException;
        }

        if (partitions is < 1 or > 100_000)
        {
            message = "The number of partitions must be between 1 and 100000.";
            return ErrorCode.InvalidPartitions;
        }

        LogConfig config = _defaults;
        var overrides = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach ((string key, string? value) in configs)
        {
            if (!TopicConfigs.TryApply(config, key, value, out config, out message))
            {
                return ErrorCode.InvalidConfig;
            }

            overrides[key] = value!;
        }

        lock (_lock)
        {
            if (_topics.ContainsKey(name))
            {
                message = $"Topic '{name}' already exists.";
                return ErrorCode.TopicAlreadyExists;
            }

            if (validateOnly)
            {
                return ErrorCode.None;
            }

            Topic topic = Open(name, Guid.NewGuid(), partitions, config, overrides);
            _topics[name] = topic;
            Save();
            Log.TopicCreated(_logger, name, partitions);
            return ErrorCode.None;
        }
    }

    /// <summary>Deletes a topic and its data.</summary>
    public ErrorCode Delete(string name)
    {
        lock (_lock)
        {
            if (!_topics.TryRemove(name, out Topic? topic))
            {
                return ErrorCode.UnknownTopicOrPartition;
            }

            Save();
            for (int p = 0; p < topic.Partitions.Length; p++)
            {
                _logs.Delete(new TopicPartition(name, p));
            }

            Log.TopicDeleted(_logger, name);
            return ErrorCode.None;
        }
    }

    /// <summary>Raises the partition count to <paramref name="total"/>.</summary>
    public ErrorCode AddPartitions(string name, int total, bool validateOnly, out string? message)
    {
        message = null;
        lock (_lock)
        {
            if (!_topics.TryGetValue(name, out Topic? topic))
            {
                return ErrorCode.UnknownTopicOrPartition;
            }

            if (total <= topic.Partitions.Length || total > 100_000)
            {
                message = $"Topic '{name}' has {topic.Partitions.Length} partitions; the new count must be larger (at most 100000).";
                return ErrorCode.InvalidPartitions;
            }

            if (!validateOnly)
            {
                _topics[name] = Open(name, topic.Id, total, topic.Config, topic.Overrides);
                Save();
            }

            return ErrorCode.None;
        }
    }

    /// <summary>Replaces a topic's overrides (AlterConfigs, IncrementalAlterConfigs) and applies them to every partition.</summary>
    public ErrorCode SetConfigs(string name, IReadOnlyDictionary<string, string> overrides, bool validateOnly, out string? message)
    {
        message = null;
        lock (_lock)
        {
            if (!_topics.TryGetValue(name, out Topic? topic))
            {
                message = $"Topic '{name}' does not exist.";
                return ErrorCode.UnknownTopicOrPartition;
            }

            LogConfig config = _defaults;
            foreach ((string key, string value) in overrides)
            {
                if (!TopicConfigs.TryApply(config, key, value, out config, out message))
                {
                    return ErrorCode.InvalidConfig;
                }
            }

            if (validateOnly)
            {
                return ErrorCode.None;
            }

            foreach (PartitionLog partition in topic.Partitions)
            {
                partition.UpdateConfig(config);
            }

            _topics[name] = topic with { Config = config, Overrides = new Dictionary<string, string>(overrides, StringComparer.Ordinal) };
            Save();
            return ErrorCode.None;
        }
    }

    /// <summary>A producer id never handed out before, even across restarts (ids are reserved on disk in blocks).</summary>
    public long AllocateProducerId()
    {
        lock (_lock)
        {
            if (_nextProducerId >= _reservedProducerIds)
            {
                _reservedProducerIds = _nextProducerId + ProducerIdBlock;
                Save();
            }

            return _nextProducerId++;
        }
    }

    private Topic Open(string name, Guid id, int partitions, LogConfig config, IReadOnlyDictionary<string, string> overrides)
    {
        var logs = new PartitionLog[partitions];
        for (int p = 0; p < partitions; p++)
        {
            logs[p] = _logs.GetOrCreate(new TopicPartition(name, p), config);
            logs[p].UpdateConfig(config);
        }

        return new Topic(name, id, config, overrides, logs);
    }

    private void RecoverOrphans()
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (TopicPartition partition in _logs.Partitions)
        {
            if (!_topics.ContainsKey(partition.Topic) && !IsInternal(partition.Topic))
            {
                counts[partition.Topic] = Math.Max(counts.GetValueOrDefault(partition.Topic), partition.Partition + 1);
            }
        }

        foreach ((string name, int partitions) in counts)
        {
            Log.OrphanRecovered(_logger, name, partitions);
            _topics[name] = Open(name, Guid.NewGuid(), partitions, _defaults, new Dictionary<string, string>());
        }
    }

    private void Save()
    {
        var file = new MetadataFile(ClusterId, _reservedProducerIds,
            [.. _topics.Values.OrderBy(t => t.Name, StringComparer.Ordinal)
                .Select(t => new TopicFile(t.Name, t.Id, t.Partitions.Length, new Dictionary<string, string>(t.Overrides)))]);
        AtomicFile.Write(_path, JsonSerializer.SerializeToUtf8Bytes(file, JsonOptions));
    }

    /// <summary>The broker's own topic (committed offsets, see Groups/OffsetLog): not a user topic.</summary>
    public static bool IsInternal(string topic) => topic == "__consumer_offsets";

    private static string NewClusterId() =>
        Convert.ToBase64String(Guid.NewGuid().ToByteArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private sealed record MetadataFile(string ClusterId, long ReservedProducerIds, List<TopicFile> Topics);

    private sealed record TopicFile(string Name, Guid Id, int Partitions, Dictionary<string, string> Configs);

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Created topic {Topic} with {Partitions} partitions")]
        public static partial void TopicCreated(ILogger logger, string topic, int partitions);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Deleted topic {Topic}")]
        public static partial void TopicDeleted(ILogger logger, string topic);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Warning,
            Message = "Topic {Topic} ({Partitions} partitions) was on disk but not in the cluster metadata; recovered with a new id and default configs")]
        public static partial void OrphanRecovered(ILogger logger, string topic, int partitions);
    }
}
