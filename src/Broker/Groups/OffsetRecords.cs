using System.Buffers.Binary;
using System.Text;
using LogBroker.Protocol;

namespace LogBroker.Broker.Groups;

/// <summary>A classic group's state as Kafka records it in <c>__consumer_offsets</c> (GroupMetadataValue).</summary>
internal sealed record GroupMetadataRecord(string ProtocolType, int Generation, string? Protocol, string? Leader, long CurrentStateTimestamp,
    IReadOnlyList<GroupMetadataRecord.Member> Members)
{
    public sealed record Member(string MemberId, string? GroupInstanceId, string ClientId, string ClientHost, int RebalanceTimeoutMs,
        int SessionTimeoutMs, byte[] Subscription, byte[] Assignment);
}

/// <summary>
/// Records of <c>__consumer_offsets</c> in Kafka's own schemas (group-coordinator
/// <c>OffsetCommitKey.json</c>, <c>OffsetCommitValue.json</c>, <c>GroupMetadataKey.json</c>,
/// <c>GroupMetadataValue.json</c>), so that tools written for Kafka (Burrow, the console consumer's
/// offsets formatter, lag exporters) read them.
/// </summary>
/// <remarks>
/// <para>Each key and value starts with its int16 schema version. Written: OffsetCommit key v1 (group,
/// topic, partition), value v3 (offset, leader epoch, metadata, commit timestamp); GroupMetadata key v2
/// (group), value v3 (protocol type, generation, protocol, leader, current-state timestamp, members
/// with instance id, client id and host, timeouts, subscription, assignment). A null value is a
/// tombstone. Read: OffsetCommit key v0–1 and value v0–3 (v1's expire timestamp skipped), GroupMetadata
/// key v2 and value v0–3; other records are skipped.</para>
/// <para>Strings are int16-length UTF-8 (at most 32767 bytes, checked before writing); a null
/// metadata is written as "" (Kafka's "no metadata") and read back as null.</para>
/// </remarks>
internal static class OffsetRecords
{
    public const short OffsetCommitKeyVersion = 1;
    public const short OffsetCommitValueVersion = 3;
    public const short GroupMetadataKeyVersion = 2;
    public const short GroupMetadataValueVersion = 3;

    public static byte[] OffsetCommitKey(string group, string topic, int partition)
    {
        byte[] key = new byte[2 + 2 + Bytes(group) + 2 + Bytes(topic) + 4];
        BinaryPrimitives.WriteInt16BigEndian(key, OffsetCommitKeyVersion);
        int p = WriteString(key, 2, group);
        p = WriteString(key, p, topic);
        BinaryPrimitives.WriteInt32BigEndian(key.AsSpan(p), partition);
        return key;
    }

    public static byte[] OffsetCommitValue(CommittedOffset offset)
    {
        string metadata = offset.Metadata ?? "";
        byte[] value = new byte[2 + 8 + 4 + 2 + Bytes(metadata) + 8];
        BinaryPrimitives.WriteInt16BigEndian(value, OffsetCommitValueVersion);
        BinaryPrimitives.WriteInt64BigEndian(value.AsSpan(2), offset.Offset);
        BinaryPrimitives.WriteInt32BigEndian(value.AsSpan(10), offset.LeaderEpoch);
        int p = WriteString(value, 14, metadata);
        BinaryPrimitives.WriteInt64BigEndian(value.AsSpan(p), offset.CommitTimestamp);
        return value;
    }

    public static byte[] GroupMetadataKey(string group)
    {
        byte[] key = new byte[2 + 2 + Bytes(group)];
        BinaryPrimitives.WriteInt16BigEndian(key, GroupMetadataKeyVersion);
        WriteString(key, 2, group);
        return key;
    }

    public static byte[] GroupMetadataValue(GroupMetadataRecord group)
    {
        int size = 2 + 2 + Bytes(group.ProtocolType) + 4 + 2 + Bytes(group.Protocol) + 2 + Bytes(group.Leader) + 8 + 4;
        foreach (GroupMetadataRecord.Member m in group.Members)
        {
            size += 2 + Bytes(m.MemberId) + 2 + Bytes(m.GroupInstanceId) + 2 + Bytes(m.ClientId) + 2 + Bytes(m.ClientHost) + 4 + 4 +
                4 + m.Subscription.Length + 4 + m.Assignment.Length;
        }

        byte[] value = new byte[size];
        BinaryPrimitives.WriteInt16BigEndian(value, GroupMetadataValueVersion);
        int p = WriteString(value, 2, group.ProtocolType);
        BinaryPrimitives.WriteInt32BigEndian(value.AsSpan(p), group.Generation);
        p = WriteString(value, p + 4, group.Protocol);
        p = WriteString(value, p, group.Leader);
        BinaryPrimitives.WriteInt64BigEndian(value.AsSpan(p), group.CurrentStateTimestamp);
        BinaryPrimitives.WriteInt32BigEndian(value.AsSpan(p + 8), group.Members.Count);
        p += 12;
        foreach (GroupMetadataRecord.Member m in group.Members)
        {
            p = WriteString(value, p, m.MemberId);
            p = WriteString(value, p, m.GroupInstanceId);
            p = WriteString(value, p, m.ClientId);
            p = WriteString(value, p, m.ClientHost);
            BinaryPrimitives.WriteInt32BigEndian(value.AsSpan(p), m.RebalanceTimeoutMs);
            BinaryPrimitives.WriteInt32BigEndian(value.AsSpan(p + 4), m.SessionTimeoutMs);
            p = WriteBytes(value, p + 8, m.Subscription);
            p = WriteBytes(value, p, m.Assignment);
        }

        return value;
    }

    /// <summary>Reads an OffsetCommit key (v0 or v1); false for any other record (a GroupMetadata key, garbage).</summary>
    public static bool TryReadOffsetCommitKey(ReadOnlySpan<byte> key, out string group, out string topic, out int partition)
    {
        group = topic = "";
        partition = 0;
        if (key.Length < 2 || BinaryPrimitives.ReadInt16BigEndian(key) is not (0 or 1))
        {
            return false;
        }

        key = key[2..];
        if (!TryReadString(ref key, out string? g) || !TryReadString(ref key, out string? t) || g is null || t is null || key.Length != 4)
        {
            return false;
        }

        (group, topic, partition) = (g, t, BinaryPrimitives.ReadInt32BigEndian(key));
        return true;
    }

    /// <summary>Reads an OffsetCommit value (v0–3); false when it is not one.</summary>
    public static bool TryReadOffsetCommitValue(ReadOnlySpan<byte> value, out CommittedOffset? offset)
    {
        offset = null;
        if (value.Length < 2)
        {
            return false;
        }

        short version = BinaryPrimitives.ReadInt16BigEndian(value);
        if (version is < 0 or > 3 || value.Length < 2 + 8 + (version >= 3 ? 4 : 0))
        {
            return false;
        }

        long position = BinaryPrimitives.ReadInt64BigEndian(value[2..]);
        int leaderEpoch = -1;
        value = value[10..];
        if (version >= 3)
        {
            leaderEpoch = BinaryPrimitives.ReadInt32BigEndian(value);
            value = value[4..];
        }

        if (!TryReadString(ref value, out string? metadata) || value.Length < (version == 1 ? 16 : 8))
        {
            return false;
        }

        long timestamp = BinaryPrimitives.ReadInt64BigEndian(value);
        offset = new CommittedOffset(position, leaderEpoch, string.IsNullOrEmpty(metadata) ? null : metadata, timestamp);
        return true;
    }

    /// <summary>Reads a GroupMetadata key (v2): the group id; false for any other record.</summary>
    public static bool TryReadGroupMetadataKey(ReadOnlySpan<byte> key, out string group)
    {
        group = "";
        if (key.Length < 2 || BinaryPrimitives.ReadInt16BigEndian(key) != GroupMetadataKeyVersion)
        {
            return false;
        }

        key = key[2..];
        if (!TryReadString(ref key, out string? g) || g is null || key.Length != 0)
        {
            return false;
        }

        group = g;
        return true;
    }

    /// <summary>The most members a GroupMetadata value may list when read back (Kafka's group.max.size is far below).</summary>
    public const int MaxGroupMembers = 10_000;

    /// <summary>
    /// Reads a GroupMetadata value, v0–3 (v0 has no rebalance timeout, v0–1 no current-state timestamp, v0–2 no
    /// instance ids); false when it is not one, is of a later version, or lists more than <see cref="MaxGroupMembers"/>.
    /// </summary>
    public static bool TryReadGroupMetadataValue(ReadOnlySpan<byte> value, out GroupMetadataRecord? group)
    {
        group = null;
        if (value.Length < 2 || BinaryPrimitives.ReadInt16BigEndian(value) is var version && version is < 0 or > 3)
        {
            return false;
        }

        value = value[2..];
        if (!TryReadString(ref value, out string? protocolType) || protocolType is null || value.Length < 4)
        {
            return false;
        }

        int generation = BinaryPrimitives.ReadInt32BigEndian(value);
        value = value[4..];
        if (!TryReadString(ref value, out string? protocol) || !TryReadString(ref value, out string? leader) || value.Length < (version >= 2 ? 12 : 4))
        {
            return false;
        }

        long timestamp = -1;
        if (version >= 2)
        {
            timestamp = BinaryPrimitives.ReadInt64BigEndian(value);
            value = value[8..];
        }

        int count = BinaryPrimitives.ReadInt32BigEndian(value);
        value = value[4..];
        if (count < 0 || count > MaxGroupMembers || count > value.Length / 14) // each member takes 14 bytes at least
        {
            return false;
        }

        var members = new List<GroupMetadataRecord.Member>(count);
        for (int i = 0; i < count; i++)
        {
            string? instanceId = null;
            if (!TryReadString(ref value, out string? memberId) || memberId is null
                || (version >= 3 && !TryReadString(ref value, out instanceId))
                || !TryReadString(ref value, out string? clientId) || clientId is null
                || !TryReadString(ref value, out string? clientHost) || clientHost is null
                || value.Length < (version >= 1 ? 8 : 4))
            {
                return false;
            }

            int rebalanceTimeout = -1;
            if (version >= 1)
            {
                rebalanceTimeout = BinaryPrimitives.ReadInt32BigEndian(value);
                value = value[4..];
            }

            int sessionTimeout = BinaryPrimitives.ReadInt32BigEndian(value);
            value = value[4..];
            if (!TryReadBytes(ref value, out byte[] subscription) || !TryReadBytes(ref value, out byte[] assignment))
            {
                return false;
            }

            members.Add(new GroupMetadataRecord.Member(memberId, instanceId, clientId, clientHost,
                rebalanceTimeout < 0 ? sessionTimeout : rebalanceTimeout, sessionTimeout, subscription, assignment));
        }

        group = new GroupMetadataRecord(protocolType, generation, protocol, leader, timestamp, members);
        return true;
    }

    /// <summary>
    /// Reads an entry of the layout LogBroker wrote before these schemas (key: group, topic, partition;
    /// value: offset, leader epoch, commit timestamp, metadata), for the one-time conversion.
    /// </summary>
    public static bool TryReadLegacy(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool valueIsNull, out string group, out string topic,
        out int partition, out CommittedOffset? offset)
    {
        group = topic = "";
        partition = 0;
        offset = null;
        if (!TryReadString(ref key, out string? g) || !TryReadString(ref key, out string? t) || g is null || t is null || key.Length != 4)
        {
            return false;
        }

        (group, topic, partition) = (g, t, BinaryPrimitives.ReadInt32BigEndian(key));
        if (valueIsNull)
        {
            return true;
        }

        if (value.Length < 22)
        {
            return false;
        }

        ReadOnlySpan<byte> metadataPart = value[20..];
        if (!TryReadString(ref metadataPart, out string? metadata))
        {
            return false;
        }

        offset = new CommittedOffset(BinaryPrimitives.ReadInt64BigEndian(value), BinaryPrimitives.ReadInt32BigEndian(value[8..]), metadata,
            BinaryPrimitives.ReadInt64BigEndian(value[12..]));
        return true;
    }

    /// <summary>UTF-8 length of a string to store; over 32767 bytes it could not be read back, so it is refused.</summary>
    public static int Bytes(string? text)
    {
        if (text is null)
        {
            return 0;
        }

        int length = Encoding.UTF8.GetByteCount(text);
        if (length > short.MaxValue)
        {
            throw new OffsetStoreException(ErrorCode.InvalidRequest, $"A group, topic, member or metadata string of {length} bytes is over {short.MaxValue}.");
        }

        return length;
    }

    private static int WriteString(byte[] buffer, int position, string? text)
    {
        if (text is null)
        {
            BinaryPrimitives.WriteInt16BigEndian(buffer.AsSpan(position), -1);
            return position + 2;
        }

        int length = Encoding.UTF8.GetBytes(text, buffer.AsSpan(position + 2));
        BinaryPrimitives.WriteInt16BigEndian(buffer.AsSpan(position), checked((short)length));
        return position + 2 + length;
    }

    private static int WriteBytes(byte[] buffer, int position, byte[] bytes)
    {
        BinaryPrimitives.WriteInt32BigEndian(buffer.AsSpan(position), bytes.Length);
        bytes.CopyTo(buffer.AsSpan(position + 4));
        return position + 4 + bytes.Length;
    }

    /// <summary>An int16-length string; -1 reads as null. False when the span is too short.</summary>
    private static bool TryReadString(ref ReadOnlySpan<byte> span, out string? text)
    {
        text = null;
        if (span.Length < 2)
        {
            return false;
        }

        int length = BinaryPrimitives.ReadInt16BigEndian(span);
        if (length == -1)
        {
            span = span[2..];
            return true;
        }

        if (length < 0 || length > span.Length - 2)
        {
            return false;
        }

        text = Encoding.UTF8.GetString(span.Slice(2, length));
        span = span[(2 + length)..];
        return true;
    }

    /// <summary>An int32-length byte string (at most the rest of the span); null (-1) reads as empty.</summary>
    private static bool TryReadBytes(ref ReadOnlySpan<byte> span, out byte[] bytes)
    {
        bytes = [];
        if (span.Length < 4)
        {
            return false;
        }

        int length = BinaryPrimitives.ReadInt32BigEndian(span);
        if (length == -1)
        {
            span = span[4..];
            return true;
        }

        if (length < 0 || length > span.Length - 4)
        {
            return false;
        }

        bytes = span.Slice(4, length).ToArray();
        span = span[(4 + length)..];
        return true;
    }
}
