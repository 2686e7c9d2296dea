using System.Buffers.Binary;
using System.Text;

namespace LogBroker.TestKit;

/// <summary>
/// A reader of <c>__consumer_offsets</c> records written from Kafka's own message definitions
/// (group-coordinator/src/main/resources/common/message/OffsetCommitKey.json, OffsetCommitValue.json,
/// GroupMetadataKey.json, GroupMetadataValue.json), independent of the broker's code. Throws on any
/// byte it cannot account for.
/// </summary>
public sealed record KafkaRecord
{
    public short KeyVersion { get; init; }

    public short ValueVersion { get; init; } = -1;

    public bool Tombstone { get; init; }

    public string Group { get; init; } = "";

    public string? Topic { get; init; }

    public int Partition { get; init; }

    public long Offset { get; init; }

    public int LeaderEpoch { get; init; } = -1;

    public string? Metadata { get; init; }

    public long CommitTimestamp { get; init; }

    public string? ProtocolType { get; init; }

    public int Generation { get; init; }

    public string? Protocol { get; init; }

    public string? Leader { get; init; }

    public long CurrentStateTimestamp { get; init; } = -1;

    public List<MemberRecord>? Members { get; init; }

    public sealed record MemberRecord((string, string?, string, string, int, int) Head, byte[] Subscription, byte[] Assignment);

    public static KafkaRecord Decode(ReadOnlySpan<byte> keyBytes, byte[]? valueBytes)
    {
        var key = new Cursor(keyBytes.ToArray());
        short keyVersion = key.Int16();
        KafkaRecord result;
        if (keyVersion is 0 or 1)
        {
            // OffsetCommitKey: group, topic, partition (versions 0-1)
            result = new KafkaRecord { KeyVersion = keyVersion, Group = key.String()!, Topic = key.String(), Partition = key.Int32() };
            key.End();
            if (valueBytes is null)
            {
                return result with { Tombstone = true };
            }

            var value = new Cursor(valueBytes);
            short version = value.Int16();
            long offset = value.Int64();
            int epoch = version >= 3 ? value.Int32() : -1;   // leaderEpoch: 3+
            string? metadata = value.String();
            long timestamp = value.Int64();
            if (version == 1)
            {
                _ = value.Int64();                              // expireTimestamp: 1 only
            }

            if (version >= 4)
            {
                throw new InvalidDataException("flexible OffsetCommitValue not expected");
            }

            value.End();
            return result with { ValueVersion = version, Offset = offset, LeaderEpoch = epoch, Metadata = metadata, CommitTimestamp = timestamp };
        }

        if (keyVersion != 2)
        {
            throw new InvalidDataException($"unknown key version {keyVersion}");
        }

        // GroupMetadataKey: group (version 2)
        result = new KafkaRecord { KeyVersion = 2, Group = key.String()! };
        key.End();
        if (valueBytes is null)
        {
            return result with { Tombstone = true };
        }

        var v = new Cursor(valueBytes);
        short valueVersion = v.Int16();
        if (valueVersion is < 0 or > 3)
        {
            throw new InvalidDataException($"GroupMetadataValue version {valueVersion}");
        }

        string? protocolType = v.String();
        int generation = v.Int32();
        string? protocol = v.String();
        string? leader = v.String();
        long stateTimestamp = valueVersion >= 2 ? v.Int64() : -1;
        int count = v.Int32();
        var members = new List<MemberRecord>();
        for (int i = 0; i < count; i++)
        {
            string memberId = v.String()!;
            string? instance = valueVersion >= 3 ? v.String() : null;
            string clientId = v.String()!;
            string clientHost = v.String()!;
            int rebalance = valueVersion >= 1 ? v.Int32() : -1;
            int session = v.Int32();
            members.Add(new MemberRecord((memberId, instance, clientId, clientHost, rebalance, session), v.Bytes(), v.Bytes()));
        }

        v.End();
        return result with
        {
            ValueVersion = valueVersion,
            ProtocolType = protocolType,
            Generation = generation,
            Protocol = protocol,
            Leader = leader,
            CurrentStateTimestamp = stateTimestamp,
            Members = members,
        };
    }

    private sealed class Cursor(byte[] data)
    {
        private int _at;

        public short Int16() => BinaryPrimitives.ReadInt16BigEndian(Take(2));

        public int Int32() => BinaryPrimitives.ReadInt32BigEndian(Take(4));

        public long Int64() => BinaryPrimitives.ReadInt64BigEndian(Take(8));

        public string? String()
        {
            short length = Int16();
            return length == -1 ? null : Encoding.UTF8.GetString(Take(length));
        }

        public byte[] Bytes() => Take(Int32()).ToArray();

        public void End()
        {
            if (_at != data.Length)
            {
                throw new InvalidDataException($"{data.Length - _at} bytes left over");
            }
        }

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count < 0 || _at + count > data.Length)
            {
                throw new InvalidDataException("truncated");
            }

            _at += count;
            return data.AsSpan(_at - count, count);
        }
    }
}
