namespace LogBroker.Storage;

/// <summary>Outcome of <see cref="PartitionLog.Append"/>.</summary>
public enum AppendStatus
{
    /// <summary>The batch was appended; offsets are set.</summary>
    Success = 0,

    /// <summary>The bytes are not exactly one valid record batch v2 (see <see cref="AppendResult.Validation"/>).</summary>
    InvalidBatch,

    /// <summary>The batch is larger than <see cref="LogConfig.MaxMessageBytes"/>.</summary>
    BatchTooLarge,

    /// <summary>A follower's batch does not start at the log end offset, or goes back in epoch: the logs diverge.</summary>
    OffsetMismatch,
}

/// <summary>Result of an append: the offsets assigned, or why nothing was appended.</summary>
/// <param name="Status">Whether the batch was appended.</param>
/// <param name="BaseOffset">Offset assigned to the batch's first record; -1 on failure.</param>
/// <param name="LastOffset">Offset of the batch's last record; -1 on failure.</param>
/// <param name="Validation">The validation failure when <paramref name="Status"/> is <see cref="AppendStatus.InvalidBatch"/>.</param>
public readonly record struct AppendResult(
    AppendStatus Status,
    long BaseOffset,
    long LastOffset,
    Protocol.Records.BatchValidation Validation = Protocol.Records.BatchValidation.Valid);

/// <summary>Outcome of <see cref="PartitionLog.Read"/>.</summary>
public enum ReadStatus
{
    /// <summary>Records holds zero or more whole batches.</summary>
    Success = 0,

    /// <summary>The offset is below the log start offset or above the log end offset.</summary>
    OffsetOutOfRange,

    /// <summary>
    /// The stored data could not be read now: an I/O error or a corrupt stored batch. Records is
    /// empty; answer KAFKA_STORAGE_ERROR for this partition.
    /// </summary>
    StorageError,

    /// <summary>
    /// Every open segment is in use (<see cref="StorageOptions.MaxOpenSegments"/>), by this caller's
    /// earlier reads or by others: nothing is wrong with the partition. Records is empty. A fetch that
    /// already holds data leaves the partition for the next fetch, as a spent response budget does;
    /// otherwise it is a retriable KAFKA_STORAGE_ERROR.
    /// </summary>
    SegmentLimit,
}

/// <summary>
/// Stored batches handed out by <see cref="PartitionLog.Read"/>: a slice of a segment's mapped
/// memory, valid until <see cref="Dispose"/>.
/// </summary>
/// <remarks>
/// Holds a lease on the segment's open files, so a concurrent eviction, roll, retention delete or close does not unmap
/// the bytes. Dispose exactly once (it is a struct: do not dispose copies). The bytes are the
/// stored batches unchanged; only <see cref="PartitionLog.TruncateTo"/> of the same range may
/// change them while held.
/// </remarks>
public struct LogReadResult : IDisposable
{
    private Internal.SegmentFiles? _lease;

    internal LogReadResult(ReadStatus status, ReadOnlyMemory<byte> records, long logStartOffset, long logEndOffset, Internal.SegmentFiles? lease)
    {
        Status = status;
        Records = records;
        LogStartOffset = logStartOffset;
        LogEndOffset = logEndOffset;
        _lease = lease;
    }

    public ReadStatus Status { get; }

    /// <summary>Whole record batches, empty at the end of the log.</summary>
    public ReadOnlyMemory<byte> Records { get; }

    /// <summary>The log start offset when the read began.</summary>
    public long LogStartOffset { get; }

    /// <summary>The log end offset when the read began.</summary>
    public long LogEndOffset { get; }

    /// <summary>
    /// The first <paramref name="length"/> bytes of <see cref="Records"/> (a batch boundary: the caller cuts at the
    /// high watermark), holding this result's lease, which moves to the returned one: dispose that one, not this.
    /// </summary>
    public LogReadResult TakeFirst(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)length, (uint)Records.Length, nameof(length));
        var taken = new LogReadResult(Status, Records[..length], LogStartOffset, LogEndOffset, _lease);
        _lease = null;
        return taken;
    }

    /// <summary>Gives the lease back.</summary>
    public void Dispose()
    {
        Internal.SegmentFiles? lease = _lease;
        _lease = null;
        lease?.Release();
    }
}
