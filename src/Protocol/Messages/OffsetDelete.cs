using LogBroker.Protocol.Primitives;

namespace LogBroker.Protocol.Messages;

// OffsetDelete (API key 47) has only version 0 and is not flexible. Its schema is not among the
// schemas the generator was given, so these two classes are written by hand in the same shape.

/// <summary>Kafka OffsetDeleteRequest (request, API key 47), version 0.</summary>
public sealed class OffsetDeleteRequest : IKafkaMessage
{
    public const short ApiKey = 47;
    public const short LowestVersion = 0;
    public const short HighestVersion = 0;

    public string GroupId { get; set; } = "";

    public List<OffsetDeleteRequestTopic> Topics { get; set; } = [];

    public static bool IsFlexible(short version) => false;

    public void Read(ref KafkaReader reader, short version)
    {
        GroupId = reader.ReadString();
        int topics = reader.ReadArrayLength(compact: false);
        Topics = new List<OffsetDeleteRequestTopic>(Math.Clamp(topics, 0, KafkaReader.InitialCapacityCap));
        for (int t = 0; t < topics && !reader.Failed; t++)
        {
            var topic = new OffsetDeleteRequestTopic { Name = reader.ReadString() };
            int partitions = reader.ReadArrayLength(compact: false);
            for (int p = 0; p < partitions && !reader.Failed; p++)
            {
                topic.Partitions.Add(reader.ReadInt32());
            }

            Topics.Add(topic);
        }
    }

    public void Write(ref KafkaWriter writer, short version)
    {
        writer.WriteNullableString(GroupId);
        writer.WriteArrayLength(Topics.Count, compact: false);
        foreach (OffsetDeleteRequestTopic topic in Topics)
        {
            writer.WriteNullableString(topic.Name);
            writer.WriteArrayLength(topic.Partitions.Count, compact: false);
            foreach (int partition in topic.Partitions)
            {
                writer.WriteInt32(partition);
            }
        }
    }

    public sealed class OffsetDeleteRequestTopic
    {
        public string Name { get; set; } = "";

        public List<int> Partitions { get; set; } = [];
    }
}

/// <summary>Kafka OffsetDeleteResponse (response, API key 47), version 0.</summary>
public sealed class OffsetDeleteResponse : IKafkaMessage, IThrottledResponse
{
    public const short LowestVersion = 0;
    public const short HighestVersion = 0;

    public short ErrorCode { get; set; }

    public int ThrottleTimeMs { get; set; }

    public List<OffsetDeleteResponseTopic> Topics { get; set; } = [];

    public static bool IsFlexible(short version) => false;

    public void Read(ref KafkaReader reader, short version)
    {
        ErrorCode = reader.ReadInt16();
        ThrottleTimeMs = reader.ReadInt32();
        int topics = reader.ReadArrayLength(compact: false);
        Topics = new List<OffsetDeleteResponseTopic>(Math.Clamp(topics, 0, KafkaReader.InitialCapacityCap));
        for (int t = 0; t < topics && !reader.Failed; t++)
        {
            var topic = new OffsetDeleteResponseTopic { Name = reader.ReadString() };
            int partitions = reader.ReadArrayLength(compact: false);
            for (int p = 0; p < partitions && !reader.Failed; p++)
            {
                topic.Partitions.Add((reader.ReadInt32(), reader.ReadInt16()));
            }

            Topics.Add(topic);
        }
    }

    public void Write(ref KafkaWriter writer, short version)
    {
        writer.WriteInt16(ErrorCode);
        writer.WriteInt32(ThrottleTimeMs);
        writer.WriteArrayLength(Topics.Count, compact: false);
        foreach (OffsetDeleteResponseTopic topic in Topics)
        {
            writer.WriteNullableString(topic.Name);
            writer.WriteArrayLength(topic.Partitions.Count, compact: false);
            foreach ((int partition, short error) in topic.Partitions)
            {
                writer.WriteInt32(partition);
                writer.WriteInt16(error);
            }
        }
    }

    public sealed class OffsetDeleteResponseTopic
    {
        public string Name { get; set; } = "";

        public List<(int Partition, short ErrorCode)> Partitions { get; set; } = [];
    }
}
