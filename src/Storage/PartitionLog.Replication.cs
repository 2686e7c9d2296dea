using LogBroker.Protocol.Records;

namespace LogBroker.Storage;

/// <summary>
/// The replication side: the follower's append (offsets and epochs as the leader wrote them) and the high
/// watermark. A single node never calls these: its high watermark is the log end offset, read at no cost.
/// </summary>
public sealed partial class PartitionLog
{
    private long _highWatermark;
    private long _checkpointHighWatermark = -1;
    private volatile bool _separateHighWatermark;

    /// <summary>
    /// The offset below which every record is replicated to the whole ISR: what consumers may read. Equal to
    /// <see cref="LogEndOffset"/> until <see cref="UseSeparateHighWatermark"/> (single-node mode); then kept on
    /// its own, between <see cref="LogStartOffset"/> and <see cref="LogEndOffset"/>.
    /// </summary>
    public long HighWatermark
    {
        get
        {
            if (!_separateHighWatermark)
            {
                return LogEndOffset;
            }

            long hw = Volatile.Read(ref _highWatermark);
            long start = LogStartOffset;
            return hw < start ? start : hw;
        }
    }

    /// <summary>Whether the high watermark is kept apart from the log end offset (the partition is replicated).</summary>
    public bool HasSeparateHighWatermark => _separateHighWatermark;

    /// <summary>The high watermark to checkpoint: the kept one, else the one found at open; -1 when there is none (single node).</summary>
    internal long CheckpointHighWatermark =>
        _separateHighWatermark ? Volatile.Read(ref _highWatermark) : Volatile.Read(ref _checkpointHighWatermark);

    /// <summary>The checkpointed high watermark found at open (-1 when none); applied by <see cref="UseSeparateHighWatermark"/>.</summary>
    internal long InitialHighWatermark
    {
        set => Volatile.Write(ref _checkpointHighWatermark, value);
    }

    /// <summary>
    /// Keeps the high watermark apart from the log end offset from now on (cluster mode: the leader advances it
    /// as the ISR replicates, a follower takes the leader's). It starts, as Kafka's, at the checkpointed value
    /// capped by the log end offset (0, i.e. the log start, without a checkpoint). Idempotent.
    /// </summary>
    public void UseSeparateHighWatermark()
    {
        lock (_appendLock)
        {
            if (_separateHighWatermark)
            {
                return;
            }

            _ = Segments;
            long checkpoint = Volatile.Read(ref _checkpointHighWatermark);
            long start = Volatile.Read(ref _logStartOffset);
            long end = Volatile.Read(ref _logEndOffset);
            Volatile.Write(ref _highWatermark, Math.Clamp(checkpoint, start, end));
            _separateHighWatermark = true;
        }
    }

    /// <summary>
    /// This broker becomes the partition's leader in <paramref name="epoch"/>: the batches it appends from now on carry
    /// it, and the epoch cache records that it starts at the log end offset (as Kafka assigns it at election), so that
    /// a follower asking where its own older epoch ends is answered even before the first append.
    /// </summary>
    public void BeginLeaderEpoch(int epoch)
    {
        lock (_appendLock)
        {
            _ = Segments;
            ThrowIfUnusable();
            LeaderEpoch = epoch;
            if (epoch > _epochs.LatestEpoch)
            {
                _epochs.Assign(epoch, _logEndOffset);
            }
        }
    }

    /// <summary>
    /// Moves the high watermark up to <paramref name="offset"/>, capped by the log end offset; never down (only a
    /// truncation lowers it). Wakes parked fetches when it moves. Returns whether it moved.
    /// </summary>
    public bool AdvanceHighWatermark(long offset)
    {
        if (!_separateHighWatermark)
        {
            return false;
        }

        while (true)
        {
            long current = Volatile.Read(ref _highWatermark);
            long target = Math.Min(offset, LogEndOffset);
            if (target <= current)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _highWatermark, target, current) == current)
            {
                // Consumers park on the append signal; with a separate high watermark, new data becomes visible here.
                Interlocked.Exchange(ref _appendSignal, null)?.TrySetResult();
                return true;
            }
        }
    }

    /// <summary>
    /// A task that completes at once when the high watermark is past <paramref name="offset"/>, else at the next append,
    /// truncation or high-watermark move, whether or not that gets it past: the caller checks again (a consumer's long
    /// poll in cluster mode; an acks=all write waiting for its followers). Same signal as <see cref="WhenAppendedAfter"/>.
    /// </summary>
    public Task WhenHighWatermarkAfter(long offset)
    {
        if (HighWatermark > offset)
        {
            return Task.CompletedTask;
        }

        TaskCompletionSource signal = Volatile.Read(ref _appendSignal) ?? InstallSignal();
        return HighWatermark > offset ? Task.CompletedTask : signal.Task;
    }

    /// <summary>
    /// Appends one batch as a follower: its base offset and partition leader epoch stay as the leader wrote them.
    /// The batch must be exactly one valid batch v2 (CRC-32C) and start at the log end offset; a batch entirely
    /// below it is skipped (already here: <see cref="AppendStatus.Success"/> with its offsets, nothing written).
    /// A newer epoch enters the leader-epoch cache before the batch. Producer state is the caller's (it lives
    /// with the broker), from the returned batch header.
    /// </summary>
    /// <exception cref="IOException">The disk failed; the partition keeps failing from now on.</exception>
    public AppendResult AppendAsFollower(ReadOnlySpan<byte> batch, out RecordBatchHeader header)
    {
        BatchValidation validation = RecordBatch.Validate(batch, out header, out int size);
        if (validation == BatchValidation.Valid && size != batch.Length)
        {
            validation = BatchValidation.InvalidLength;
        }

        if (validation != BatchValidation.Valid)
        {
            return new AppendResult(AppendStatus.InvalidBatch, -1, -1, validation);
        }

        long baseOffset = header.BaseOffset;
        long lastOffset = baseOffset + header.LastOffsetDelta;
        bool flush;
        lock (_appendLock)
        {
            LogSegment[] segments = Segments;
            ThrowIfUnusable();
            long end = _logEndOffset;
            if (lastOffset < end)
            {
                return new AppendResult(AppendStatus.Success, baseOffset, lastOffset); // a batch we already have
            }

            if (baseOffset != end || header.PartitionLeaderEpoch < _epochs.LatestEpoch)
            {
                // A gap, an overlap, or an epoch going back: the logs diverge; the caller truncates first.
                return new AppendResult(AppendStatus.OffsetMismatch, -1, -1);
            }

            flush = WriteLocked(batch, header, baseOffset, header.PartitionLeaderEpoch, Config);
            GC.KeepAlive(segments);
        }

        Interlocked.Exchange(ref _appendSignal, null)?.TrySetResult();
        if (flush)
        {
            Flush(lastOffset + 1);
        }

        return new AppendResult(AppendStatus.Success, baseOffset, lastOffset);
    }
}
