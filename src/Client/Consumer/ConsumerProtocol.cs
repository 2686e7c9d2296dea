using System.Buffers;
using System.Buffers.Binary;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;

namespace LogBroker.Client.Consumer;

/// <summary>
/// The "consumer" embedded protocol of classic groups: subscription metadata in JoinGroup and
/// assignments in SyncGroup, each a 2-byte version followed by the versioned body.
/// </summary>
internal static class ConsumerProtocol
{
    /// <summary>The subscription version written: v1 adds owned partitions (cooperative rebalancing), v2 the generation they are from.</summary>
    private const short SubscriptionVersion = 2;

    public static byte[] WriteSubscription(IReadOnlyCollection<string> topics, IEnumerable<TopicPartition> owned, int generation)
    {
        var message = new ConsumerProtocolSubscription { Topics = [.. topics], GenerationId = generation, UserData = null };
        message.OwnedPartitions = ToProtocol(owned, static (t, p) => new ConsumerProtocolSubscription.TopicPartition { Topic = t, Partitions = p });
        return Write(message, SubscriptionVersion);
    }

    public static byte[] WriteAssignment(IEnumerable<TopicPartition> partitions)
    {
        var message = new ConsumerProtocolAssignment { UserData = null };
        message.AssignedPartitions = ToProtocol(partitions, static (t, p) => new ConsumerProtocolAssignment.TopicPartition { Topic = t, Partitions = p });
        return Write(message, 0);
    }

    /// <summary>Reads a member's subscription; null when malformed.</summary>
    public static ConsumerProtocolSubscription? ReadSubscription(ReadOnlySpan<byte> data)
    {
        var message = new ConsumerProtocolSubscription();
        return Read(data, message, ConsumerProtocolSubscription.HighestVersion) ? message : null;
    }

    /// <summary>Reads an assignment; empty when empty or malformed.</summary>
    public static List<TopicPartition> ReadAssignment(ReadOnlySpan<byte> data)
    {
        var result = new List<TopicPartition>();
        var message = new ConsumerProtocolAssignment();
        if (data.Length >= 2 && Read(data, message, ConsumerProtocolAssignment.HighestVersion))
        {
            foreach (ConsumerProtocolAssignment.TopicPartition t in message.AssignedPartitions)
            {
                foreach (int p in t.Partitions)
                {
                    result.Add(new TopicPartition(t.Topic, p));
                }
            }
        }

        return result;
    }

    private static bool Read(ReadOnlySpan<byte> data, IKafkaMessage message, short highest)
    {
        if (data.Length < 2)
        {
            return false;
        }

        // A newer version than this client knows is read as the highest it knows (the format only appends).
        short version = Math.Min(BinaryPrimitives.ReadInt16BigEndian(data), highest);
        if (version < 0)
        {
            return false;
        }

        var reader = new KafkaReader(data[2..]);
        message.Read(ref reader, version);
        return !reader.Failed;
    }

    private static byte[] Write(IKafkaMessage message, short version)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        var writer = new KafkaWriter(buffer);
        writer.WriteInt16(version);
        message.Write(ref writer, version);
        writer.Commit();
        return buffer.WrittenSpan.ToArray();
    }

    private static List<T> ToProtocol<T>(IEnumerable<TopicPartition> partitions, Func<string, List<int>, T> create)
    {
        var byTopic = new SortedDictionary<string, List<int>>(StringComparer.Ordinal);
        foreach (TopicPartition tp in partitions)
        {
            if (!byTopic.TryGetValue(tp.Topic, out List<int>? list))
            {
                byTopic[tp.Topic] = list = [];
            }

            list.Add(tp.Partition);
        }

        var result = new List<T>(byTopic.Count);
        foreach (KeyValuePair<string, List<int>> kv in byTopic)
        {
            kv.Value.Sort();
            result.Add(create(kv.Key, kv.Value));
        }

        return result;
    }
}
