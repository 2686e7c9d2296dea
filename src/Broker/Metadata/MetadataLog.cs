using System.Buffers;
using LogBroker.Storage.Checkpoints;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Metadata;

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
