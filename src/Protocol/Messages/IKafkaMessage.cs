using LogBroker.Protocol.Primitives;

namespace LogBroker.Protocol.Messages;

/// <summary>A request, response or data structure with a versioned Kafka encoding (generated classes).</summary>
public interface IKafkaMessage
{
    /// <summary>Reads the fields of <paramref name="version"/>; malformed input sets <see cref="KafkaReader.Failed"/>.</summary>
    void Read(ref KafkaReader reader, short version);

    /// <summary>Writes the fields of <paramref name="version"/>.</summary>
    void Write(ref KafkaWriter writer, short version);
}
