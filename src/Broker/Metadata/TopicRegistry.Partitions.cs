using LogBroker.Storage;

namespace LogBroker.Broker.Metadata;

/// <summary>The partition logs behind topics: opened and deleted, snapshots of the metadata, and what a crash left at start.</summary>
internal sealed partial class TopicRegistry
{
    /// <summary>
    /// Opens partitions <paramref name="from"/>..<paramref name="to"/> (creating their directories),
    /// after <paramref name="existing"/>. On failure the ones it created are deleted again.
    /// </summary>
    private Topic Open(string name, Guid id, int from, int to, LogConfig config, IReadOnlyDictionary<string, string> overrides, PartitionLog[] existing)
    {
        var logs = new PartitionLog[to];
        Array.Copy(existing, logs, from);
        int p = from;
        try
        {
            for (; p < to; p++)
            {
                logs[p] = _logs.GetOrCreate(new TopicPartition(name, p), config);
                logs[p].UpdateConfig(config);
            }
        }
        catch (Exception e) when (IsStorageFailure(e) && from < to)
        {
            DeletePartitions(name, from, p);
            throw;
        }

        return new Topic(name, id, config, overrides, logs);
    }

    /// <summary>Deletes partitions <paramref name="from"/>..<paramref name="to"/> of <paramref name="name"/>; a failure blocks the name until restart.</summary>
    private void DeletePartitions(string name, int from, int to)
    {
        var partitions = new List<TopicPartition>(to - from);
        for (int p = from; p < to; p++)
        {
            partitions.Add(new TopicPartition(name, p));
        }

        DeleteLogs(partitions);
    }

    private void DeleteLogs(List<TopicPartition> partitions)
    {
        try
        {
            _logs.DeleteAll(partitions);
        }
        catch (IOException e)
        {
            lock (_gate)
            {
                foreach (TopicPartition partition in partitions)
                {
                    if (_logs.Get(partition) is null && !_topics.ContainsKey(partition.Topic) && _blocked.TryAdd(partition.Topic,
                        $"Deleting the old partitions of '{partition.Topic}' failed ({e.Message}); the name can be used again after a restart."))
                    {
                        Log.DeleteIncomplete(_logger, e, partition.Topic);
                    }
                }
            }
        }
    }

    private void SnapshotIfDue()
    {
        if (!_log.SnapshotDue)
        {
            return;
        }

        var topics = new List<TopicState>(_topics.Count);
        foreach (Topic topic in _topics.Values)
        {
            topics.Add(new TopicState(topic.Name, topic.Id, topic.Partitions.Length, topic.Overrides));
        }

        try
        {
            _log.Snapshot(topics);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.SnapshotFailed(_logger, e);
        }
    }

    /// <summary>Partition directories the metadata does not name: deleted topics, or creations never recorded.</summary>
    private void DeleteStrays()
    {
        var strays = new List<TopicPartition>();
        foreach (TopicPartition partition in _logs.Partitions)
        {
            if (!IsInternal(partition.Topic) && (!_topics.TryGetValue(partition.Topic, out Topic? topic) || partition.Partition >= topic.Partitions.Length))
            {
                strays.Add(partition);
            }
        }

        if (strays.Count > 0)
        {
            Log.StraysDeleted(_logger, strays.Count, strays[0].ToString());
            DeleteLogs(strays);
        }
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

        var records = new List<MetadataRecord>(counts.Count);
        var recovered = new List<Topic>(counts.Count);
        foreach ((string name, int partitions) in counts)
        {
            Log.OrphanRecovered(_logger, name, partitions);
            Topic topic = Open(name, Guid.NewGuid(), 0, partitions, _defaults, new Dictionary<string, string>(StringComparer.Ordinal), []);
            recovered.Add(topic);
            records.Add(MetadataRecord.Created(name, topic.Id, partitions, topic.Overrides));
        }

        if (records.Count > 0)
        {
            _log.Append(records);
            foreach (Topic topic in recovered)
            {
                Publish(topic);
                _partitionCount += topic.Partitions.Length;
            }
        }
    }
}
