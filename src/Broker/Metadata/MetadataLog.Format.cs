using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using LogBroker.Protocol.Records;
using LogBroker.Storage.Checkpoints;

namespace LogBroker.Broker.Metadata;

/// <summary>The files' binary format: snapshot and log headers, records, bounded reads, and the legacy JSON file.</summary>
internal sealed partial class MetadataLog
{
    private static long WriteSnapshot(string directory, string clusterId, long epoch, long reserved, IEnumerable<TopicState> topics)
    {
        var records = new ArrayBufferWriter<byte>(4096);
        int count = 0;
        foreach (TopicState topic in topics)
        {
            WriteRecord(records, MetadataRecord.Created(topic.Name, topic.Id, topic.Partitions, topic.Configs));
            count++;
        }

        var buffer = new ArrayBufferWriter<byte>(records.WrittenCount + 64);
        WriteUInt32(buffer, SnapshotMagic);
        WriteInt16(buffer, FormatVersion);
        WriteInt64(buffer, epoch);
        WriteString(buffer, clusterId);
        WriteInt64(buffer, reserved);
        WriteInt32(buffer, count);
        WriteUInt32(buffer, Crc32C.Compute(buffer.WrittenSpan));
        buffer.Write(records.WrittenSpan);
        AtomicFile.Write(Path.Combine(directory, SnapshotFileName), buffer.WrittenSpan);
        return buffer.WrittenCount;
    }

    private static MetadataState ReadSnapshot(byte[] bytes, string path, out long epoch)
    {
        var reader = new Reader(bytes);
        if (!reader.TryUInt32(out uint magic) || magic != SnapshotMagic || !reader.TryInt16(out short version) || version != FormatVersion
            || !reader.TryInt64(out epoch) || !reader.TryString(out string? clusterId) || !reader.TryInt64(out long reserved)
            || !reader.TryInt32(out int count) || count < 0)
        {
            throw new IOException($"The metadata snapshot {path} is damaged (header); refusing to start rather than lose topics.");
        }

        uint expected = Crc32C.Compute(bytes.AsSpan(0, reader.Position));
        if (!reader.TryUInt32(out uint crc) || crc != expected)
        {
            throw new IOException($"The metadata snapshot {path} is damaged (header checksum); refusing to start rather than lose topics.");
        }

        var state = new MetadataState { ClusterId = clusterId, ReservedProducerIds = reserved, Existed = true };
        int position = reader.Position;
        for (int i = 0; i < count; i++)
        {
            if (!TryReadRecord(bytes, ref position, out MetadataRecord? record) || record.Type != MetadataRecordType.TopicCreated)
            {
                throw new IOException($"The metadata snapshot {path} is damaged (record {i} of {count}); refusing to start rather than lose topics.");
            }

            state.Apply(record);
        }

        return state;
    }

    private static int Replay(byte[] log, int start, MetadataState state)
    {
        int position = start;
        while (position < log.Length)
        {
            int before = position;
            if (!TryReadRecord(log, ref position, out MetadataRecord? record))
            {
                return before;
            }

            state.Apply(record);
        }

        return position;
    }

    private static byte[] LogHeader(long epoch, string clusterId)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        WriteUInt32(buffer, LogMagic);
        WriteInt16(buffer, FormatVersion);
        WriteInt64(buffer, epoch);
        WriteString(buffer, clusterId);
        WriteUInt32(buffer, Crc32C.Compute(buffer.WrittenSpan));
        return buffer.WrittenSpan.ToArray();
    }

    private static bool TryReadLogHeader(byte[] bytes, out long epoch, out string clusterId, out int length)
    {
        var reader = new Reader(bytes);
        clusterId = "";
        length = 0;
        epoch = 0;
        if (!reader.TryUInt32(out uint magic) || magic != LogMagic || !reader.TryInt16(out short version) || version != FormatVersion
            || !reader.TryInt64(out epoch) || !reader.TryString(out string? id))
        {
            return false;
        }

        uint expected = Crc32C.Compute(bytes.AsSpan(0, reader.Position));
        if (!reader.TryUInt32(out uint crc) || crc != expected)
        {
            return false;
        }

        clusterId = id;
        length = reader.Position;
        return true;
    }

    private static void WriteRecord(ArrayBufferWriter<byte> buffer, MetadataRecord record)
    {
        var body = new ArrayBufferWriter<byte>(64);
        body.Write([(byte)record.Type]);
        switch (record.Type)
        {
            case MetadataRecordType.ProducerIdsReserved:
                WriteInt64(body, record.ProducerIds);
                break;
            default:
                WriteString(body, record.Name);
                WriteGuid(body, record.Id);
                if (record.Type is MetadataRecordType.TopicCreated or MetadataRecordType.PartitionsSet)
                {
                    WriteInt32(body, record.Partitions);
                }

                if (record.Type is MetadataRecordType.TopicCreated or MetadataRecordType.ConfigsSet)
                {
                    WriteInt32(body, record.Configs!.Count);
                    foreach ((string key, string value) in record.Configs)
                    {
                        WriteString(body, key);
                        WriteString(body, value);
                    }
                }

                break;
        }

        WriteInt32(buffer, body.WrittenCount);
        WriteUInt32(buffer, Crc32C.Compute(body.WrittenSpan));
        buffer.Write(body.WrittenSpan);
    }

    private static bool TryReadRecord(byte[] bytes, ref int position, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out MetadataRecord? record)
    {
        record = null;
        if (bytes.Length - position < 8)
        {
            return false;
        }

        int length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(position));
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(position + 4));
        if (length is < 1 or > MaxRecordBytes || length > bytes.Length - position - 8)
        {
            return false;
        }

        var body = new ReadOnlySpan<byte>(bytes, position + 8, length);
        if (Crc32C.Compute(body) != crc)
        {
            return false;
        }

        var reader = new Reader(bytes, position + 8, position + 8 + length);
        if (!reader.TryByte(out byte type))
        {
            return false;
        }

        var kind = (MetadataRecordType)type;
        if (kind == MetadataRecordType.ProducerIdsReserved)
        {
            if (!reader.TryInt64(out long reserved))
            {
                return false;
            }

            record = MetadataRecord.ProducerIdsReserved(reserved);
        }
        else if (kind is MetadataRecordType.TopicCreated or MetadataRecordType.TopicDeleted or MetadataRecordType.PartitionsSet or MetadataRecordType.ConfigsSet)
        {
            if (!reader.TryString(out string? name) || !reader.TryGuid(out Guid id))
            {
                return false;
            }

            int partitions = 0;
            if (kind is MetadataRecordType.TopicCreated or MetadataRecordType.PartitionsSet && (!reader.TryInt32(out partitions) || partitions < 1))
            {
                return false;
            }

            Dictionary<string, string>? configs = null;
            if (kind is MetadataRecordType.TopicCreated or MetadataRecordType.ConfigsSet)
            {
                if (!reader.TryInt32(out int count) || count < 0 || count > reader.Remaining / 8)
                {
                    return false;
                }

                configs = new Dictionary<string, string>(count, StringComparer.Ordinal);
                for (int i = 0; i < count; i++)
                {
                    if (!reader.TryString(out string? key) || !reader.TryString(out string? value))
                    {
                        return false;
                    }

                    configs[key] = value;
                }
            }

            record = new MetadataRecord(kind, name, id, partitions, configs, 0);
        }
        else
        {
            return false;
        }

        if (reader.Remaining != 0)
        {
            record = null;
            return false;
        }

        position += 8 + length;
        return true;
    }

    private static MetadataState ReadLegacy(byte[] json)
    {
        LegacyFile file = JsonSerializer.Deserialize<LegacyFile>(json)
            ?? throw new IOException($"The legacy metadata file {LegacyFileName} is empty.");
        var state = new MetadataState { ClusterId = file.ClusterId, ReservedProducerIds = file.ReservedProducerIds, Existed = true };
        foreach (LegacyTopic topic in file.Topics ?? [])
        {
            state.Topics[topic.Name] = new TopicState(topic.Name, topic.Id, topic.Partitions,
                new Dictionary<string, string>(topic.Configs ?? [], StringComparer.Ordinal));
        }

        return state;
    }

    private static void TryDelete(string path)
    {
        if (File.Exists(path))
        {
            File.Delete(path);
        }
    }

    private static string NewClusterId() =>
        Convert.ToBase64String(Guid.NewGuid().ToByteArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static void WriteInt16(ArrayBufferWriter<byte> buffer, short value)
    {
        BinaryPrimitives.WriteInt16LittleEndian(buffer.GetSpan(2), value);
        buffer.Advance(2);
    }

    private static void WriteInt32(ArrayBufferWriter<byte> buffer, int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(buffer.GetSpan(4), value);
        buffer.Advance(4);
    }

    private static void WriteUInt32(ArrayBufferWriter<byte> buffer, uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.GetSpan(4), value);
        buffer.Advance(4);
    }

    private static void WriteInt64(ArrayBufferWriter<byte> buffer, long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(buffer.GetSpan(8), value);
        buffer.Advance(8);
    }

    private static void WriteGuid(ArrayBufferWriter<byte> buffer, Guid value)
    {
        value.TryWriteBytes(buffer.GetSpan(16));
        buffer.Advance(16);
    }

    private static void WriteString(ArrayBufferWriter<byte> buffer, string value)
    {
        int length = Encoding.UTF8.GetByteCount(value);
        WriteInt32(buffer, length);
        Encoding.UTF8.GetBytes(value, buffer.GetSpan(length));
        buffer.Advance(length);
    }

    /// <summary>Bounded reads over a byte range: every length is checked against what is left.</summary>
    private ref struct Reader(byte[] bytes, int start, int end)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes.AsSpan(0, end);

        public Reader(byte[] bytes)
            : this(bytes, 0, bytes.Length)
        {
        }

        public int Position { get; private set; } = start;

        public readonly int Remaining => _bytes.Length - Position;

        private delegate T Decode<T>(ReadOnlySpan<byte> source);

        public bool TryByte(out byte value) => TryRead(1, static b => b[0], out value);

        public bool TryInt16(out short value) => TryRead(2, BinaryPrimitives.ReadInt16LittleEndian, out value);

        public bool TryInt32(out int value) => TryRead(4, BinaryPrimitives.ReadInt32LittleEndian, out value);

        public bool TryUInt32(out uint value) => TryRead(4, BinaryPrimitives.ReadUInt32LittleEndian, out value);

        public bool TryInt64(out long value) => TryRead(8, BinaryPrimitives.ReadInt64LittleEndian, out value);

        public bool TryGuid(out Guid value) => TryRead(16, static b => new Guid(b), out value);

        public bool TryString([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value)
        {
            value = null;
            if (!TryInt32(out int length) || length < 0 || length > Remaining)
            {
                return false;
            }

            value = Encoding.UTF8.GetString(_bytes.Slice(Position, length));
            Position += length;
            return true;
        }

        /// <summary>Decodes the next <paramref name="size"/> bytes and consumes them, or consumes nothing and answers false when fewer are left.</summary>
        private bool TryRead<T>(int size, Decode<T> decode, out T value)
        {
            if (Remaining < size)
            {
                value = default!;
                return false;
            }

            value = decode(_bytes.Slice(Position, size));
            Position += size;
            return true;
        }
    }

    private sealed record LegacyFile(string ClusterId, long ReservedProducerIds, List<LegacyTopic>? Topics);

    private sealed record LegacyTopic(string Name, Guid Id, int Partitions, Dictionary<string, string>? Configs);
}
