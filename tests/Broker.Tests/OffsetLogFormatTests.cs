using System.Buffers.Binary;
using System.Text;
using LogBroker.Broker.Groups;
using LogBroker.Protocol.Records;
using LogBroker.Storage;
using LogBroker.TestKit;

namespace LogBroker.Broker.Tests;

/// <summary>
/// <c>__consumer_offsets</c> in Kafka's schemas: what is written decodes with a reader written from
/// Kafka's JSON definitions, and a data directory of the old layout (a fixture written by the code
/// before the change) is converted on the first start.
/// </summary>
public sealed class OffsetLogFormatTests : IDisposable
{
    private readonly TempDirectory _dir = new("offsets-format");

    public void Dispose() => _dir.Dispose();

    /// <summary>What the fixture in Fixtures/legacy-offsets holds (written by the pre-Kafka-schema OffsetLog).</summary>
    private static readonly Dictionary<(string, string, int), CommittedOffset> FixtureEntries = new()
    {
        [("orders-app", "orders", 0)] = new CommittedOffset(43, 3, "m0b", 1_700_000_000_002),
        [("orders-app", "orders", 1)] = new CommittedOffset(7, -1, null, 1_700_000_000_001),
        [("grüße", "päckchen", 2)] = new CommittedOffset(5, 0, "", 1_700_000_000_003),
        [("g", "t", 9)] = new CommittedOffset(999, 1, "x", 1_700_000_000_005),
    };

    [Fact]
    public void A_data_directory_of_the_old_layout_is_converted_on_the_first_start_and_loads_the_same_after()
    {
        CopyFixture();
        var options = new StorageOptions { DataDirectory = _dir.Path };
        using (LogManager logs = LogManager.Open(options))
        {
            var log = new OffsetLog(logs);
            Dictionary<(string, string, int), CommittedOffset> loaded = log.Load().ToDictionary(e => (e.Group, e.Topic, e.Partition), e => e.Offset);
            Assert.True(log.Converted);
            Assert.Equal(FixtureEntries, loaded);
            Assert.True(File.Exists(_dir.Combine(OffsetLog.FormatFileName)));

            // Only Kafka-format records are left, and they say the same.
            List<KafkaRecord> records = ReadAll(log);
            Assert.Equal(FixtureEntries.Count, records.Count);
            Assert.All(records, r => Assert.Equal(1, r.KeyVersion));
            Assert.Equal(FixtureEntries.Keys.Order(), records.Select(r => (r.Group, r.Topic!, r.Partition)).Order());
            KafkaRecord orders0 = records.Single(r => r.Group == "orders-app" && r.Partition == 0);
            Assert.Equal((3, 43L, 3, "m0b", 1_700_000_000_002L), (orders0.ValueVersion, orders0.Offset, orders0.LeaderEpoch, orders0.Metadata, orders0.CommitTimestamp));
            Assert.Equal("", records.Single(r => r.Partition == 1).Metadata); // null metadata is Kafka's ""
            log.Append("after", [("t", 0, new CommittedOffset(1, -1, null, 1))]);
            logs.Abandon(); // a crash right after
        }

        using (LogManager logs = LogManager.Open(options))
        {
            var log = new OffsetLog(logs);
            Dictionary<(string, string, int), CommittedOffset> loaded = log.Load().ToDictionary(e => (e.Group, e.Topic, e.Partition), e => e.Offset);
            Assert.False(log.Converted);
            Assert.Equal(FixtureEntries.Count + 1, loaded.Count);
            Assert.Equal(FixtureEntries[("g", "t", 9)], loaded[("g", "t", 9)]);
        }
    }

    [Fact]
    public void A_conversion_interrupted_after_the_format_was_recorded_loads_the_old_records_as_old_and_finishes()
    {
        CopyFixture();
        long legacyEnd;
        using (LogManager logs = LogManager.Open(new StorageOptions { DataDirectory = _dir.Path }))
        {
            legacyEnd = logs.Get(new TopicPartition(OffsetLog.Topic, 0))!.LogEndOffset;
        }

        // As if the broker died right after recording where Kafka's schemas begin: nothing rewritten yet.
        File.WriteAllText(_dir.Combine(OffsetLog.FormatFileName), $"kafka-schemas-from {legacyEnd}\n");
        using LogManager reopened = LogManager.Open(new StorageOptions { DataDirectory = _dir.Path });
        var log = new OffsetLog(reopened);
        Assert.Equal(FixtureEntries, log.Load().ToDictionary(e => (e.Group, e.Topic, e.Partition), e => e.Offset));
    }

    [Fact]
    public void Commits_deletions_and_group_states_are_written_in_kafkas_schemas()
    {
        using LogManager logs = LogManager.Open(new StorageOptions { DataDirectory = _dir.Path });
        var log = new OffsetLog(logs);
        Assert.Empty(log.Load());
        Assert.False(log.Converted);
        log.Append("grp", [("orders", 2, new CommittedOffset(10, 4, "meta", 1234)), ("orders", 3, new CommittedOffset(11, -1, null, 1235))]);
        log.Append("grp", [("orders", 3, null)]);
        log.AppendGroup("grp", new GroupMetadataRecord("consumer", 5, "range", "m-1", 1236,
            [new GroupMetadataRecord.Member("m-1", "i-1", "client", "/127.0.0.1", 30_000, 10_000, [0, 1, 2], [3, 4])]), 1236);
        log.AppendGroup("grp", null, 1237);

        List<KafkaRecord> records = ReadAll(log);
        Assert.Equal(5, records.Count);
        Assert.Equal(("grp", "orders", 2, 10L, 4, "meta", 1234L), (records[0].Group, records[0].Topic, records[0].Partition, records[0].Offset, records[0].LeaderEpoch, records[0].Metadata, records[0].CommitTimestamp));
        Assert.Equal((1, 3), (records[1].KeyVersion, records[1].ValueVersion));
        Assert.True(records[2].Tombstone);
        Assert.Equal(("orders", 3), (records[2].Topic, records[2].Partition));
        KafkaRecord group = records[3];
        Assert.Equal((2, 3, "consumer", 5, "range", "m-1", 1236L), (group.KeyVersion, group.ValueVersion, group.ProtocolType, group.Generation, group.Protocol, group.Leader, group.CurrentStateTimestamp));
        Assert.Equal(("m-1", "i-1", "client", "/127.0.0.1", 30_000, 10_000), Assert.Single(group.Members!).Head);
        Assert.Equal([3, 4], group.Members![0].Assignment);
        Assert.True(records[4].Tombstone);
        Assert.Equal((2, "grp"), (records[4].KeyVersion, records[4].Group));
    }

    private void CopyFixture()
    {
        string source = Path.Combine(AppContext.BaseDirectory, "Fixtures", "legacy-offsets", OffsetLog.Topic + "-0");
        string target = _dir.Combine(OffsetLog.Topic + "-0");
        Directory.CreateDirectory(target);
        foreach (string file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }
    }

    private static List<KafkaRecord> ReadAll(OffsetLog log)
    {
        var records = new List<KafkaRecord>();
        log.Partition.ScanBatches(log.Partition.LogStartOffset, (in RecordBatchHeader header, ReadOnlySpan<byte> batch) =>
        {
            var reader = new RecordReader(batch[RecordBatch.HeaderSize..]);
            while (reader.TryRead(out RecordView record))
            {
                records.Add(KafkaRecord.Decode(record.Key, record.ValueIsNull ? null : record.Value.ToArray()));
            }
        });
        return records;
    }
}

/// <summary>
/// A reader of <c>__consumer_offsets</c> records written from Kafka's own message definitions
/// (group-coordinator/src/main/resources/common/message/OffsetCommitKey.json, OffsetCommitValue.json,
/// GroupMetadataKey.json, GroupMetadataValue.json), independent of the broker's code. Throws on any
/// byte it cannot account for.
/// </summary>
internal sealed record KafkaRecord
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

    internal sealed record MemberRecord((string, string?, string, string, int, int) Head, byte[] Subscription, byte[] Assignment);

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
