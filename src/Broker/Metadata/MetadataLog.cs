using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using LogBroker.Protocol.Records;
using LogBroker.Storage.Checkpoints;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Metadata;

/// <summary>The kinds of change the metadata log records.</summary>
internal enum MetadataRecordType : byte
{
    /// <summary>A topic exists with this id, partition count and config overrides (replaces any earlier state of the name).</summary>
    TopicCreated = 1,

    /// <summary>The topic of this name and id is gone (the tombstone; its directories are strays from now on).</summary>
    TopicDeleted = 2,

    /// <summary>The topic of this name and id has this many partitions.</summary>
    PartitionsSet = 3,

    /// <summary>The topic of this name and id has exactly these config overrides.</summary>
    ConfigsSet = 4,

    /// <summary>Producer ids below this value may have been handed out.</summary>
    ProducerIdsReserved = 5,
}

/// <summary>One change. Every record states a value (never a delta), so replaying one twice is harmless.</summary>
internal sealed record MetadataRecord(MetadataRecordType Type, string Name, Guid Id, int Partitions, IReadOnlyDictionary<string, string>? Configs, long ProducerIds)
{
    public static MetadataRecord Created(string name, Guid id, int partitions, IReadOnlyDictionary<string, string> configs) =>
        new(MetadataRecordType.TopicCreated, name, id, partitions, configs, 0);

    public static MetadataRecord Deleted(string name, Guid id) => new(MetadataRecordType.TopicDeleted, name, id, 0, null, 0);

    public static MetadataRecord PartitionsSet(string name, Guid id, int partitions) => new(MetadataRecordType.PartitionsSet, name, id, partitions, null, 0);

    public static MetadataRecord ConfigsSet(string name, Guid id, IReadOnlyDictionary<string, string> configs) =>
        new(MetadataRecordType.ConfigsSet, name, id, 0, configs, 0);

    public static MetadataRecord ProducerIdsReserved(long below) => new(MetadataRecordType.ProducerIdsReserved, "", Guid.Empty, 0, null, below);
}

/// <summary>A topic as the metadata describes it (what a snapshot holds per topic).</summary>
internal sealed record TopicState(string Name, Guid Id, int Partitions, IReadOnlyDictionary<string, string> Configs);

/// <summary>The metadata as recovered at start.</summary>
internal sealed class MetadataState
{
    public required string ClusterId { get; init; }

    public long ReservedProducerIds { get; set; }

    public Dictionary<string, TopicState> Topics { get; } = new(StringComparer.Ordinal);

    /// <summary>False when the data directory had no metadata at all (new, or the files were lost).</summary>
    public bool Existed { get; init; }

    public void Apply(MetadataRecord record)
    {
        switch (record.Type)
        {
            case MetadataRecordType.TopicCreated:
                Topics[record.Name] = new TopicState(record.Name, record.Id, record.Partitions, record.Configs!);
                break;
            case MetadataRecordType.TopicDeleted:
                if (Topics.TryGetValue(record.Name, out TopicState? deleted) && deleted.Id == record.Id)
                {
                    Topics.Remove(record.Name);
                }

                break;
            case MetadataRecordType.PartitionsSet:
                if (Topics.TryGetValue(record.Name, out TopicState? grown) && grown.Id == record.Id)
                {
                    Topics[record.Name] = grown with { Partitions = record.Partitions };
                }

                break;
            case MetadataRecordType.ConfigsSet:
                if (Topics.TryGetValue(record.Name, out TopicState? configured) && configured.Id == record.Id)
                {
                    Topics[record.Name] = configured with { Configs = record.Configs! };
                }

                break;
            case MetadataRecordType.ProducerIdsReserved:
                ReservedProducerIds = Math.Max(ReservedProducerIds, record.ProducerIds);
                break;
        }
    }
}

/// <summary>
/// The cluster metadata of this node as an append-only log of <see cref="MetadataRecord"/>s with
/// periodic snapshots, so that a change costs O(change) on disk, not O(all topics).
/// </summary>
/// <remarks>
/// <para>Files in the data directory:</para>
/// <code>
/// cluster-metadata.snapshot   header (magic, epoch E, cluster id, reserved producer ids, topic count) + one TopicCreated per topic
/// cluster-metadata.log        header (magic, epoch E+1, cluster id) + records appended since the snapshot
/// </code>
/// <para>Each record is <c>length:int32 crc32c:uint32 body</c>. An append writes all records of one
/// change (or of one CreateTopics) with one write and one fsync; it returns only after the fsync,
/// so the caller publishes a change in memory only once it is durable. A write that fails is cut
/// off again; an fsync that fails makes the log refuse every later append until restart (the page
/// cache can no longer be trusted).</para>
/// <para>Recovery reads the snapshot (which is replaced atomically and must be intact), then the log
/// if its epoch is the snapshot's + 1 (or the same, after a snapshot that failed halfway), stopping
/// at the first torn or corrupt record and cutting the file there. A log of an older epoch is left
/// from a crash between writing a snapshot and starting the next log: its records are all in the
/// snapshot and it is replaced. A damaged snapshot or log header stops the broker: starting would
/// treat every topic's directories as strays.</para>
/// <para>A snapshot is written when the log has grown past max(1 MiB, the last snapshot's size), so
/// its cost is amortized over at least as many bytes of changes. Why not an embedded store: the data
/// is small, the operations are few and value-setting, and a log of our own needs no native
/// dependency and has exactly the fsync points we want.</para>
/// <para>The legacy <c>cluster-metadata.json</c> (one whole file rewritten per change) is converted on
/// first start: snapshot and log are written, then the JSON is deleted.</para>
/// <para>Thread-safety: appends and snapshots are serialized by an internal lock.</para>
/// </remarks>
internal sealed partial class MetadataLog : IDisposable
{
    public const string LogFileName = "cluster-metadata.log";
    public const string SnapshotFileName = "cluster-metadata.snapshot";
    public const string LegacyFileName = "cluster-metadata.json";

    private const uint LogMagic = 0x4C424D4C; // "LBML"
    private const uint SnapshotMagic = 0x4C424D53; // "LBMS"
    private const short FormatVersion = 1;
    private const int MaxRecordBytes = 16 * 1024 * 1024;

    /// <summary>The log grows at least this much between snapshots (default 1 MiB).</summary>
    public const long DefaultSnapshotBytes = 1024 * 1024;

    private readonly Lock _lock = new();
    private readonly string _directory;
    private readonly ILogger _logger;
    private readonly string _clusterId;
    private readonly long _minSnapshotBytes;
    private FileStream _file;
    private long _epoch;
    private long _length;
    private long _headerLength;
    private long _lastSnapshotBytes;
    private long _reservedProducerIds;
    private bool _failed;

    private MetadataLog(string directory, ILogger logger, string clusterId, FileStream file, long epoch, long length, long headerLength, long snapshotBytes, long reserved, long minSnapshotBytes)
    {
        _minSnapshotBytes = minSnapshotBytes;
        _directory = directory;
        _logger = logger;
        _clusterId = clusterId;
        _file = file;
        _epoch = epoch;
        _length = length;
        _headerLength = headerLength;
        _lastSnapshotBytes = snapshotBytes;
        _reservedProducerIds = reserved;
    }

    /// <summary>Bytes of records in the log since the last snapshot.</summary>
    public long LogBytes
    {
        get
        {
            lock (_lock)
            {
                return _length - _headerLength;
            }
        }
    }

    /// <summary>How many snapshots this instance has written (for tests).</summary>
    public int SnapshotsWritten { get; private set; }

    /// <summary>How many appends (each one write and one fsync) this instance has made (for tests).</summary>
    public int Appends { get; private set; }

    /// <summary>Whether the log has grown enough that a snapshot pays for itself.</summary>
    public bool SnapshotDue
    {
        get
        {
            lock (_lock)
            {
                return _length - _headerLength >= Math.Max(_minSnapshotBytes, _lastSnapshotBytes);
            }
        }
    }

    /// <summary>Reads the metadata of <paramref name="directory"/> (converting the legacy JSON file) and opens the log for appends.</summary>
    /// <exception cref="IOException">The snapshot or the log header is damaged: starting would lose topics.</exception>
    public static MetadataLog Open(string directory, ILogger logger, out MetadataState state, long minSnapshotBytes = DefaultSnapshotBytes)
    {
        string snapshotPath = Path.Combine(directory, SnapshotFileName);
        string logPath = Path.Combine(directory, LogFileName);
        string legacyPath = Path.Combine(directory, LegacyFileName);
        long snapshotEpoch;
        long snapshotBytes = 0;
        if (File.Exists(snapshotPath))
        {
            byte[] snapshot = File.ReadAllBytes(snapshotPath);
            snapshotBytes = snapshot.Length;
            state = ReadSnapshot(snapshot, snapshotPath, out snapshotEpoch);
            TryDelete(legacyPath); // converted before a crash that came before the JSON was deleted
        }
        else if (File.Exists(legacyPath))
        {
            state = ReadLegacy(File.ReadAllBytes(legacyPath));
            snapshotEpoch = 1;
            snapshotBytes = WriteSnapshot(directory, state.ClusterId, snapshotEpoch, state.ReservedProducerIds, state.Topics.Values);
            AtomicFile.Write(logPath, LogHeader(snapshotEpoch + 1, state.ClusterId));
            File.Delete(legacyPath);
            Log.Converted(logger, legacyPath, state.Topics.Count);
        }
        else
        {
            snapshotEpoch = 0;
            state = null!;
        }

        long epoch;
        long headerLength;
        byte[]? log = File.Exists(logPath) ? File.ReadAllBytes(logPath) : null;
        if (log is { Length: > 0 })
        {
            if (!TryReadLogHeader(log, out long logEpoch, out string logClusterId, out int logHeaderLength) || logEpoch > snapshotEpoch + 1
                || (state is null && logEpoch != 1))
            {
                throw new IOException($"The metadata log {logPath} does not follow the snapshot (or its header is damaged); refusing to start rather than lose topics.");
            }

            if (logEpoch >= snapshotEpoch)
            {
                // Epoch E+1: the records since snapshot E. Epoch E: a snapshot failed after its rename, and
                // records went on into log E; replaying them again is harmless (every record sets a value).
                state ??= new MetadataState { ClusterId = logClusterId, Existed = true };
                int end = Replay(log, logHeaderLength, state);
                epoch = logEpoch;
                headerLength = logHeaderLength;
                if (end < log.Length)
                {
                    Log.TornTail(logger, logPath, end, log.Length);
                    using var truncate = new FileStream(logPath, FileMode.Open, FileAccess.Write, FileShare.None, bufferSize: 0);
                    truncate.SetLength(end);
                    truncate.Flush(flushToDisk: true);
                }
            }
            else
            {
                epoch = snapshotEpoch + 1; // a crash between snapshot E and the log that follows it: all of it is in the snapshot
                byte[] header = LogHeader(epoch, state!.ClusterId);
                AtomicFile.Write(logPath, header);
                headerLength = header.Length;
            }
        }
        else
        {
            state ??= new MetadataState { ClusterId = NewClusterId(), Existed = false };
            epoch = snapshotEpoch + 1;
            byte[] header = LogHeader(epoch, state.ClusterId);
            AtomicFile.Write(logPath, header);
            headerLength = header.Length;
        }

        var file = new FileStream(logPath, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
        long length = file.Length;
        file.Position = length;
        return new MetadataLog(directory, logger, state.ClusterId, file, epoch, length, headerLength, snapshotBytes, state.ReservedProducerIds, minSnapshotBytes);
    }

    /// <summary>Writes <paramref name="records"/> with one write and one fsync; returns once they are durable.</summary>
    /// <exception cref="IOException">Nothing was made durable (the caller must not publish the change).</exception>
    public void Append(IReadOnlyList<MetadataRecord> records)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        long reserved = 0;
        foreach (MetadataRecord record in records)
        {
            WriteRecord(buffer, record);
            reserved = Math.Max(reserved, record.ProducerIds);
        }

        lock (_lock)
        {
            if (_failed)
            {
                throw new IOException("The metadata log failed an fsync earlier; metadata changes are refused until the broker restarts.");
            }

            try
            {
                _file.Position = _length;
                _file.Write(buffer.WrittenSpan);
                _file.Flush(flushToDisk: false);
            }
            catch (IOException)
            {
                CutBack();
                throw;
            }

            try
            {
                _file.Flush(flushToDisk: true);
            }
            catch (IOException e)
            {
                _failed = true;
                Log.FsyncFailed(_logger, e, Path.Combine(_directory, LogFileName));
                throw;
            }

            _length += buffer.WrittenCount;
            Appends++;
            _reservedProducerIds = Math.Max(_reservedProducerIds, reserved);
        }
    }

    /// <summary>
    /// Replaces snapshot and log by a snapshot of <paramref name="topics"/> (which must be the state
    /// after every record appended so far) and an empty log. A failure leaves the old files in use.
    /// </summary>
    public void Snapshot(IEnumerable<TopicState> topics)
    {
        lock (_lock)
        {
            if (_failed)
            {
                return;
            }

            // A failure here leaves log E in use: whether or not snapshot E replaced the old one, log E
            // is replayed on top of it at start.
            long bytes = WriteSnapshot(_directory, _clusterId, _epoch, _reservedProducerIds, topics);
            string logPath = Path.Combine(_directory, LogFileName);
            byte[] header = LogHeader(_epoch + 1, _clusterId);
            FileStream next;
            try
            {
                AtomicFile.Write(logPath, header); // from here on log E is obsolete
                next = new FileStream(logPath, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _failed = true; // log E may be unlinked already: appending to it would lose changes
                Log.FsyncFailed(_logger, e, logPath);
                throw;
            }

            _file.Dispose();
            _file = next;
            _epoch++;
            _length = _headerLength = header.Length;
            _file.Position = _length;
            _lastSnapshotBytes = bytes;
            SnapshotsWritten++;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _file.Dispose();
        }
    }

    private void CutBack()
    {
        try
        {
            _file.SetLength(_length);
            _file.Position = _length;
        }
        catch (IOException e)
        {
            _failed = true;
            Log.FsyncFailed(_logger, e, Path.Combine(_directory, LogFileName));
        }
    }

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

        public bool TryByte(out byte value)
        {
            value = 0;
            if (Remaining < 1)
            {
                return false;
            }

            value = _bytes[Position++];
            return true;
        }

        public bool TryInt16(out short value)
        {
            value = 0;
            if (Remaining < 2)
            {
                return false;
            }

            value = BinaryPrimitives.ReadInt16LittleEndian(_bytes[Position..]);
            Position += 2;
            return true;
        }

        public bool TryInt32(out int value)
        {
            value = 0;
            if (Remaining < 4)
            {
                return false;
            }

            value = BinaryPrimitives.ReadInt32LittleEndian(_bytes[Position..]);
            Position += 4;
            return true;
        }

        public bool TryUInt32(out uint value)
        {
            value = 0;
            if (Remaining < 4)
            {
                return false;
            }

            value = BinaryPrimitives.ReadUInt32LittleEndian(_bytes[Position..]);
            Position += 4;
            return true;
        }

        public bool TryInt64(out long value)
        {
            value = 0;
            if (Remaining < 8)
            {
                return false;
            }

            value = BinaryPrimitives.ReadInt64LittleEndian(_bytes[Position..]);
            Position += 8;
            return true;
        }

        public bool TryGuid(out Guid value)
        {
            value = Guid.Empty;
            if (Remaining < 16)
            {
                return false;
            }

            value = new Guid(_bytes.Slice(Position, 16));
            Position += 16;
            return true;
        }

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
    }

    private sealed record LegacyFile(string ClusterId, long ReservedProducerIds, List<LegacyTopic>? Topics);

    private sealed record LegacyTopic(string Name, Guid Id, int Partitions, Dictionary<string, string>? Configs);

    private static partial class Log
    {
        [LoggerMessage(EventId = 2010, Level = LogLevel.Warning,
            Message = "The metadata log {Path} ended in a torn or damaged record at byte {End} of {Length}; cut there (the change it held was never acknowledged)")]
        public static partial void TornTail(ILogger logger, string path, int end, int length);

        [LoggerMessage(EventId = 2011, Level = LogLevel.Error, Message = "fsync of the metadata log {Path} failed; metadata changes are refused until restart")]
        public static partial void FsyncFailed(ILogger logger, Exception exception, string path);

        [LoggerMessage(EventId = 2012, Level = LogLevel.Information, Message = "Converted {Path} ({Topics} topics) to the metadata log")]
        public static partial void Converted(ILogger logger, string path, int topics);
    }
}
