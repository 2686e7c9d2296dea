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
