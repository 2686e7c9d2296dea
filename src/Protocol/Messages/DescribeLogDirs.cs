using LogBroker.Protocol.Primitives;

namespace LogBroker.Protocol.Messages;

// DescribeLogDirs (API key 35), versions 0–4 (Kafka 3.9's range; v0 and v1 are the same on the wire),
// flexible from 2. Its schema is not among the schemas the generator was given, so these two classes
// are written by hand in the same shape.

/// <summary>Kafka DescribeLogDirsRequest (request, API key 35), versions 0–4, flexible 2+.</summary>
public sealed class DescribeLogDirsRequest : IKafkaMessage
{
    public const short ApiKey = 35;
    public const short LowestVersion = 0;
    public const short HighestVersion = 4;

    /// <summary>The topics to describe; null for every topic and partition.</summary>
    public List<DescribableLogDirTopic>? Topics { get; set; } = [];

    public static bool IsFlexible(short version) => version >= 2;

    public void Read(ref KafkaReader reader, short version)
    {
        bool flexible = IsFlexible(version);
        int topics = reader.ReadArrayLength(flexible);
        Topics = topics < 0 ? null : new List<DescribableLogDirTopic>(Math.Min(topics, KafkaReader.InitialCapacityCap));
        for (int t = 0; t < topics && !reader.Failed; t++)
        {
            var topic = new DescribableLogDirTopic { Topic = reader.ReadString(flexible) };
            int partitions = reader.ReadArrayLength(flexible);
            for (int p = 0; p < partitions && !reader.Failed; p++)
            {
                topic.Partitions.Add(reader.ReadInt32());
            }

            if (partitions < 0)
            {
                reader.MarkFailed();
            }

            if (flexible)
            {
                reader.SkipTaggedFields();
            }

            Topics!.Add(topic);
        }

        if (flexible)
        {
            reader.SkipTaggedFields();
        }
    }

    public void Write(ref KafkaWriter writer, short version)
    {
        bool flexible = IsFlexible(version);
        writer.WriteArrayLength(Topics?.Count ?? -1, flexible);
        foreach (DescribableLogDirTopic topic in Topics ?? [])
        {
            writer.WriteString(topic.Topic, flexible);
            writer.WriteArrayLength(topic.Partitions.Count, flexible);
            foreach (int partition in topic.Partitions)
            {
                writer.WriteInt32(partition);
            }

            if (flexible)
            {
                writer.WriteEmptyTaggedFields();
            }
        }

        if (flexible)
        {
            writer.WriteEmptyTaggedFields();
        }
    }

    public sealed class DescribableLogDirTopic
    {
        public string Topic { get; set; } = "";

        public List<int> Partitions { get; set; } = [];
    }
}

/// <summary>Kafka DescribeLogDirsResponse (response, API key 35), versions 0–4, flexible 2+.</summary>
public sealed class DescribeLogDirsResponse : IKafkaMessage, IThrottledResponse
{
    public const short ApiKey = 35;
    public const short LowestVersion = 0;
    public const short HighestVersion = 4;

    public int ThrottleTimeMs { get; set; }

    /// <summary>Top-level error (versions 3+).</summary>
    public short ErrorCode { get; set; }

    public List<DescribeLogDirsResult> Results { get; set; } = [];

    public static bool IsFlexible(short version) => version >= 2;

    public void Read(ref KafkaReader reader, short version)
    {
        bool flexible = IsFlexible(version);
        ThrottleTimeMs = reader.ReadInt32();
        if (version >= 3)
        {
            ErrorCode = reader.ReadInt16();
        }

        int results = reader.ReadArrayLength(flexible);
        Results = new List<DescribeLogDirsResult>(Math.Clamp(results, 0, KafkaReader.InitialCapacityCap));
        for (int r = 0; r < results && !reader.Failed; r++)
        {
            var result = new DescribeLogDirsResult { ErrorCode = reader.ReadInt16(), LogDir = reader.ReadString(flexible) };
            int topics = reader.ReadArrayLength(flexible);
            for (int t = 0; t < topics && !reader.Failed; t++)
            {
                var topic = new DescribeLogDirsTopic { Name = reader.ReadString(flexible) };
                int partitions = reader.ReadArrayLength(flexible);
                for (int p = 0; p < partitions && !reader.Failed; p++)
                {
                    topic.Partitions.Add(new DescribeLogDirsPartition
                    {
                        PartitionIndex = reader.ReadInt32(),
                        PartitionSize = reader.ReadInt64(),
                        OffsetLag = reader.ReadInt64(),
                        IsFutureKey = reader.ReadBoolean(),
                    });
                    if (flexible)
                    {
                        reader.SkipTaggedFields();
                    }
                }

                if (flexible)
                {
                    reader.SkipTaggedFields();
                }

                result.Topics.Add(topic);
            }

            if (version >= 4)
            {
                result.TotalBytes = reader.ReadInt64();
                result.UsableBytes = reader.ReadInt64();
            }

            if (flexible)
            {
                reader.SkipTaggedFields();
            }

            Results.Add(result);
        }

        if (flexible)
        {
            reader.SkipTaggedFields();
        }
    }

    public void Write(ref KafkaWriter writer, short version)
    {
        bool flexible = IsFlexible(version);
        writer.WriteInt32(ThrottleTimeMs);
        if (version >= 3)
        {
            writer.WriteInt16(ErrorCode);
        }

        writer.WriteArrayLength(Results.Count, flexible);
        foreach (DescribeLogDirsResult result in Results)
        {
            writer.WriteInt16(result.ErrorCode);
            writer.WriteString(result.LogDir, flexible);
            writer.WriteArrayLength(result.Topics.Count, flexible);
            foreach (DescribeLogDirsTopic topic in result.Topics)
            {
                writer.WriteString(topic.Name, flexible);
                writer.WriteArrayLength(topic.Partitions.Count, flexible);
                foreach (DescribeLogDirsPartition p in topic.Partitions)
                {
                    writer.WriteInt32(p.PartitionIndex);
                    writer.WriteInt64(p.PartitionSize);
                    writer.WriteInt64(p.OffsetLag);
                    writer.WriteBoolean(p.IsFutureKey);
                    if (flexible)
                    {
                        writer.WriteEmptyTaggedFields();
                    }
                }

                if (flexible)
                {
                    writer.WriteEmptyTaggedFields();
                }
            }

            if (version >= 4)
            {
                writer.WriteInt64(result.TotalBytes);
                writer.WriteInt64(result.UsableBytes);
            }

            if (flexible)
            {
                writer.WriteEmptyTaggedFields();
            }
        }

        if (flexible)
        {
            writer.WriteEmptyTaggedFields();
        }
    }

    public sealed class DescribeLogDirsResult
    {
        public short ErrorCode { get; set; }

        public string LogDir { get; set; } = "";

        public List<DescribeLogDirsTopic> Topics { get; set; } = [];

        /// <summary>Total bytes of the volume (versions 4+; -1 when unknown).</summary>
        public long TotalBytes { get; set; } = -1;

        /// <summary>Usable bytes of the volume (versions 4+; -1 when unknown).</summary>
        public long UsableBytes { get; set; } = -1;
    }

    public sealed class DescribeLogDirsTopic
    {
        public string Name { get; set; } = "";

        public List<DescribeLogDirsPartition> Partitions { get; set; } = [];
    }

    public sealed class DescribeLogDirsPartition
    {
        public int PartitionIndex { get; set; }

        public long PartitionSize { get; set; }

        public long OffsetLag { get; set; }

        public bool IsFutureKey { get; set; }
    }
}
