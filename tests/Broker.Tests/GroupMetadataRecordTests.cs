using System.Buffers.Binary;
using LogBroker.Broker.Groups;

namespace LogBroker.Broker.Tests;

/// <summary>A classic group's recorded state (Kafka's GroupMetadata value) reads back as written, and a hostile one is refused, not trusted.</summary>
public sealed class GroupMetadataRecordTests
{
    private static readonly GroupMetadataRecord Group = new("consumer", 7, "range", "m-1", 1_700_000_000_000,
    [
        new GroupMetadataRecord.Member("m-1", null, "client-a", "/127.0.0.1", 60_000, 10_000, [1, 2, 3], [4, 5]),
        new GroupMetadataRecord.Member("m-2", "static-b", "client-b", "/127.0.0.2", 30_000, 45_000, [], [6]),
    ]);

    [Fact]
    public void A_written_value_reads_back_with_every_field()
    {
        Assert.True(OffsetRecords.TryReadGroupMetadataValue(OffsetRecords.GroupMetadataValue(Group), out GroupMetadataRecord? read));
        Assert.Equal((Group.ProtocolType, Group.Generation, Group.Protocol, Group.Leader, Group.CurrentStateTimestamp),
            (read!.ProtocolType, read.Generation, read.Protocol, read.Leader, read.CurrentStateTimestamp));
        Assert.Equal(2, read.Members.Count);
        for (int i = 0; i < 2; i++)
        {
            var (expected, actual) = (Group.Members[i], read.Members[i]);
            Assert.Equal((expected.MemberId, expected.GroupInstanceId, expected.ClientId, expected.ClientHost, expected.RebalanceTimeoutMs, expected.SessionTimeoutMs),
                (actual.MemberId, actual.GroupInstanceId, actual.ClientId, actual.ClientHost, actual.RebalanceTimeoutMs, actual.SessionTimeoutMs));
            Assert.Equal(expected.Subscription, actual.Subscription);
            Assert.Equal(expected.Assignment, actual.Assignment);
        }
    }

    [Fact]
    public void Every_truncation_and_a_later_version_are_refused()
    {
        byte[] value = OffsetRecords.GroupMetadataValue(Group);
        for (int length = 0; length < value.Length; length++)
        {
            Assert.False(OffsetRecords.TryReadGroupMetadataValue(value.AsSpan(0, length), out _), $"read {length} of {value.Length} bytes");
        }

        byte[] later = (byte[])value.Clone();
        BinaryPrimitives.WriteInt16BigEndian(later, 4); // flexible (v4+): not read
        Assert.False(OffsetRecords.TryReadGroupMetadataValue(later, out _));
    }

    [Fact]
    public void A_member_count_that_is_negative_beyond_the_bound_or_beyond_the_bytes_is_refused()
    {
        var empty = new GroupMetadataRecord("consumer", 1, "range", null, 0, []);
        byte[] value = OffsetRecords.GroupMetadataValue(empty);
        foreach (int count in new[] { int.MaxValue, OffsetRecords.MaxGroupMembers + 1, 1, -1 })
        {
            BinaryPrimitives.WriteInt32BigEndian(value.AsSpan(value.Length - 4), count);
            Assert.False(OffsetRecords.TryReadGroupMetadataValue(value, out _), $"{count} members");
        }
    }
}
