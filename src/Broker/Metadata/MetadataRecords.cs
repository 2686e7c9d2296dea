namespace LogBroker.Broker.Metadata;

/// <summary>The kinds of change the metadata log records.</summary>
internal enum MetadataRecordType : byte
{
    /// <summary>A topic exists with this id, partition count and config overrides (replaces any earlier state of the name).</summary>
    TopicCreated = 1,

    /// <summary>The topic of this name and id is gone (the tombstone; its directories are strays from now on).</summary>
    TopicDeleted = 2,

    /// <summary>The topic of this name and id has this many partitions.</summary>
    PartitionsSet = 3,

    /// <summary>The topic of this name and id has exactly these config overrides.</summary>
    ConfigsSet = 4,

    /// <summary>Producer ids below this value may have been handed out.</summary>
    ProducerIdsReserved = 5,
}

/// <summary>One change. Every record states a value (never a delta), so replaying one twice is harmless.</summary>
internal sealed record MetadataRecord(MetadataRecordType Type, string Name, Guid Id, int Partitions, IReadOnlyDictionary<string, string>? Configs, long ProducerIds)
{
    public static MetadataRecord Created(string name, Guid id, int partitions, IReadOnlyDictionary<string, string> configs) =>
        new(MetadataRecordType.TopicCreated, name, id, partitions, configs, 0);

    public static MetadataRecord Deleted(string name, Guid id) => new(MetadataRecordType.TopicDeleted, name, id, 0, null, 0);

    public static MetadataRecord PartitionsSet(string name, Guid id, int partitions) => new(MetadataRecordType.PartitionsSet, name, id, partitions, null, 0);

    public static MetadataRecord ConfigsSet(string name, Guid id, IReadOnlyDictionary<string, string> configs) =>
        new(MetadataRecordType.ConfigsSet, name, id, 0, configs, 0);

    public static MetadataRecord ProducerIdsReserved(long below) => new(MetadataRecordType.ProducerIdsReserved, "", Guid.Empty, 0, null, below);
}

/// <summary>A topic as the metadata describes it (what a snapshot holds per topic).</summary>
internal sealed record TopicState(string Name, Guid Id, int Partitions, IReadOnlyDictionary<string, string> Configs);

/// <summary>The metadata as recovered at start.</summary>
internal sealed class MetadataState
{
    public required string ClusterId { get; init; }

    public long ReservedProducerIds { get; set; }

    public Dictionary<string, TopicState> Topics { get; } = new(StringComparer.Ordinal);

    /// <summary>False when the data directory had no metadata at all (new, or the files were lost).</summary>
    public bool Existed { get; init; }

    public void Apply(MetadataRecord record)
    {
        switch (record.Type)
        {
            case MetadataRecordType.TopicCreated:
                Topics[record.Name] = new TopicState(record.Name, record.Id, record.Partitions, record.Configs!);
                break;
            case MetadataRecordType.TopicDeleted:
                if (Topics.TryGetValue(record.Name, out TopicState? deleted) && deleted.Id == record.Id)
                {
                    Topics.Remove(record.Name);
                }

                break;
            case MetadataRecordType.PartitionsSet:
                if (Topics.TryGetValue(record.Name, out TopicState? grown) && grown.Id == record.Id)
                {
                    Topics[record.Name] = grown with { Partitions = record.Partitions };
                }

                break;
            case MetadataRecordType.ConfigsSet:
                if (Topics.TryGetValue(record.Name, out TopicState? configured) && configured.Id == record.Id)
                {
                    Topics[record.Name] = configured with { Configs = record.Configs! };
                }

                break;
            case MetadataRecordType.ProducerIdsReserved:
                ReservedProducerIds = Math.Max(ReservedProducerIds, record.ProducerIds);
                break;
        }
    }
}
