using System.Buffers;
using System.Buffers.Binary;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;

namespace LogBroker.TestKit;

/// <summary>Whole request frames (size prefix, header, body) for tests that write to a broker directly.</summary>
public static class RequestFrames
{
    /// <summary>A Produce request of one batch to one partition.</summary>
    public static ProduceRequest Produce(string topic, int partition, byte[] batch, short acks = 1, int timeoutMs = 5000) => new()
    {
        Acks = acks,
        TimeoutMs = timeoutMs,
        TopicData =
        [
            new ProduceRequest.TopicProduceData
            {
                Name = topic,
                PartitionData = [new ProduceRequest.PartitionProduceData { Index = partition, Records = batch }],
            },
        ],
    };

    /// <summary>Encodes a request, optionally followed by <paramref name="padding"/> zero bytes (trailing bytes a broker must tolerate).</summary>
    public static byte[] Encode(ApiKey key, short version, int correlation, IKafkaMessage request, string? clientId = "raw-test", int padding = 0)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new KafkaWriter(buffer);
        new RequestHeader((short)key, version, correlation, clientId).Write(ref writer);
        request.Write(ref writer, version);
        writer.Commit();
        byte[] frame = new byte[4 + buffer.WrittenCount + padding];
        BinaryPrimitives.WriteInt32BigEndian(frame, buffer.WrittenCount + padding);
        buffer.WrittenSpan.CopyTo(frame.AsSpan(4));
        return frame;
    }
}
