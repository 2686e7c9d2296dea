using LogBroker.Protocol.Records;
using LogBroker.Storage.Internal;

namespace LogBroker.Storage;

/// <summary>The write side: append, flush, roll, retention, DeleteRecords and truncation, all under the append lock.</summary>
public sealed partial class PartitionLog
{
    /// <summary>Replaces the settings; the next append and maintenance pass use them.</summary>
    public void UpdateConfig(LogConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Volatile.Write(ref _config, config);
    }

    /// <summary>
    /// Appends one record batch v2. It is validated (lengths, magic, record count, CRC-32C) and
    /// copied into the active segment with the assigned base offset and the leader epoch written in
    /// place; nothing is decompressed. <paramref name="batch"/> itself is not modified.
    /// </summary>
    /// <returns>The assigned offsets, or why the batch was refused (nothing is written then).</returns>
    /// <exception cref="IOException">The disk failed; the partition keeps failing from now on.</exception>
    public AppendResult Append(ReadOnlySpan<byte> batch)
    {
        BatchValidation validation = RecordBatch.Validate(batch, out RecordBatchHeader header, out int size);
        if (validation == BatchValidation.Valid && size != batch.Length)
        {
            validation = BatchValidation.InvalidLength; // exactly one batch, no trailing bytes
        }

        if (validation != BatchValidation.Valid)
        {
            return new AppendResult(AppendStatus.InvalidBatch, -1, -1, validation);
        }

        return AppendValidated(batch, header);
    }

    /// <summary>
    /// <see cref="Append"/> for a caller that has just run <see cref="RecordBatch.Validate"/> on exactly
    /// these bytes (one whole batch, nothing after it) and got <paramref name="header"/>: skips the
    /// second CRC pass. Still refuses batches over <see cref="LogConfig.MaxMessageBytes"/>.
    /// </summary>
    public AppendResult AppendValidated(ReadOnlySpan<byte> batch, in RecordBatchHeader header)
    {
        int size = batch.Length;
        LogConfig config = Config;
        if (size > config.MaxMessageBytes)
        {
            return new AppendResult(AppendStatus.BatchTooLarge, -1, -1);
        }

        long baseOffset;
        long lastOffset;
        bool flush;
        lock (_appendLock)
        {
            LogSegment[] segments = Segments;
            ThrowIfUnusable();
            baseOffset = _logEndOffset;
            lastOffset = baseOffset + header.LastOffsetDelta;
            flush = WriteLocked(batch, header, baseOffset, LeaderEpoch, config);
            GC.KeepAlive(segments);
        }

        Interlocked.Exchange(ref _appendSignal, null)?.TrySetResult();

        if (flush)
        {
            Flush(lastOffset + 1);
        }

        return new AppendResult(AppendStatus.Success, baseOffset, lastOffset);
    }

    /// <summary>
    /// Caller: the append lock, the partition usable. Writes one batch at <paramref name="baseOffset"/> with
    /// <paramref name="epoch"/> (rolling first when needed), records a new epoch in the cache before the batch,
    /// and publishes the new log end offset. Returns whether the flush.messages limit is reached.
    /// </summary>
    private bool WriteLocked(ReadOnlySpan<byte> batch, in RecordBatchHeader header, long baseOffset, int epoch, LogConfig config)
    {
        int size = batch.Length;
        long lastOffset = baseOffset + header.LastOffsetDelta;
        IOException? indexFailure;
        try
        {
            LogSegment active = _segments![^1];
            if (!active.CanFit(size) || !active.CanIndex(lastOffset) ||
                (!active.IsEmpty && _time.GetElapsedTime(active.CreatedTimestamp) >= config.SegmentAge))
            {
                active = Roll(size, config);
            }

            if (epoch > _epochs.LatestEpoch)
            {
                _epochs.Assign(epoch, baseOffset); // written before the batch: the file is never behind the log
            }

            indexFailure = active.Append(batch, header, baseOffset, epoch);
            if (active.TakeCreatedFiles())
            {
                Volatile.Write(ref _directoryDirty, true);
            }
        }
        catch (Exception e) when (e is IOException and not StorageLimitException or UnauthorizedAccessException)
        {
            throw Fail(e);
        }

        Volatile.Write(ref _logEndOffset, lastOffset + 1);
        if (indexFailure is not null)
        {
            _ = Fail(indexFailure); // this batch is stored; the next append fails
        }

        long unflushed = Interlocked.Add(ref _unflushedRecords, header.LastOffsetDelta + 1);
        return config.FlushMessages is { } limit && unflushed >= limit;
    }

    /// <summary>
    /// A task that completes once the log end offset is past <paramref name="offset"/> (at once if it
    /// already is). For long-polling fetches: no polling, and no allocation while nobody waits.
    /// </summary>
    public Task WhenAppendedAfter(long offset)
    {
        if (LogEndOffset > offset)
        {
            return Task.CompletedTask;
        }

        TaskCompletionSource signal = Volatile.Read(ref _appendSignal) ?? InstallSignal();
        // An append between the check above and the install may have missed the new signal.
        return LogEndOffset > offset ? Task.CompletedTask : signal.Task;
    }

    private TaskCompletionSource InstallSignal()
    {
        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return Interlocked.CompareExchange(ref _appendSignal, created, null) ?? created;
    }

    /// <summary>Flushes everything appended so far.</summary>
    public void Flush() => Flush(long.MaxValue);

    /// <summary>
    /// Makes every offset below <paramref name="upToOffset"/> durable (fsync of the segments written
    /// since the last flush, their indexes and, after a roll, the directory). Returns at once when the
    /// recovery point is already there, so concurrent callers share one fsync (group commit).
    /// </summary>
    public void Flush(long upToOffset)
    {
        if (RecoveryPoint >= Math.Min(upToOffset, LogEndOffset))
        {
            return;
        }

        lock (_flushLock)
        {
            long target = LogEndOffset;
            long from = RecoveryPoint;
            if (from >= Math.Min(upToOffset, target))
            {
                return;
            }

            ThrowIfUnusable();
            using StorageTelemetry.FlushTiming timing = StorageTelemetry.StartFlush();
            Interlocked.Exchange(ref _unflushedRecords, 0);
            LogSegment[] segments = Segments;
            try
            {
                if (ParentDirectoryDirty)
                {
                    ParentDirectoryDirty = false;
                    Posix.FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(Directory))!);
                }

                if (Volatile.Read(ref _directoryDirty))
                {
                    Volatile.Write(ref _directoryDirty, false);
                    Posix.FsyncDirectory(Directory);
                }

                for (int i = 0; i < segments.Length; i++)
                {
                    LogSegment segment = segments[i];
                    if (segment.NextOffset > from || i == segments.Length - 1)
                    {
                        segment.Flush();
                    }
                }
            }
            catch (Exception e) when (e is IOException and not StorageLimitException or UnauthorizedAccessException)
            {
                throw Fail(e);
            }
            catch (InvalidOperationException) when (_closed)
            {
                throw new ObjectDisposedException(nameof(PartitionLog));
            }

            Volatile.Write(ref _recoveryPoint, target);
            Volatile.Write(ref _lastFlushTimestamp, _time.GetTimestamp());
        }
    }

    /// <summary>Flushes when <see cref="LogConfig.FlushInterval"/> has passed since the last flush.</summary>
    public void FlushIfDue()
    {
        if (IsLoaded && Config.FlushInterval is { } interval && RecoveryPoint < LogEndOffset &&
            _time.GetElapsedTime(Volatile.Read(ref _lastFlushTimestamp)) >= interval)
        {
            Flush();
        }
    }

    /// <summary>Seals the active segment and starts a new one at the log end offset (if the active one has data).</summary>
    public void Roll()
    {
        lock (_appendLock)
        {
            _ = Segments;
            ThrowIfUnusable();
            if (!_segments![^1].IsEmpty)
            {
                Roll(0, Config);
            }
        }
    }

    /// <summary>
    /// Applies retention: deletes, oldest first, whole segments that are entirely below the log start
    /// offset, whose newest timestamp is older than <see cref="LogConfig.RetentionTime"/>, or while the
    /// partition is larger than <see cref="LogConfig.RetentionBytes"/>. The active segment is rolled
    /// first when it has expired too. Advances the log start offset. Returns the segments deleted.
    /// </summary>
    public int ApplyRetention()
    {
        lock (_appendLock)
        {
            _ = Segments;
            ObjectDisposedException.ThrowIf(_closed, this);
            LogConfig config = Config;
            long cutoff = config.RetentionTime is { } retention
                ? _time.GetUtcNow().ToUnixTimeMilliseconds() - (long)retention.TotalMilliseconds
                : long.MinValue;

            // A failed partition still deletes expired segments (a full disk needs the space back); it only does not roll.
            LogSegment active = _segments![^1];
            if (_failure is null && !active.IsEmpty && active.MaxTimestamp < cutoff && AllSealedExpired(cutoff))
            {
                try
                {
                    Roll(0, config);
                }
                catch (Exception e) when (e is IOException and not StorageLimitException or UnauthorizedAccessException)
                {
                    _ = Fail(e);
                }
            }

            LogSegment[] segments = _segments;
            long total = 0;
            foreach (LogSegment segment in segments)
            {
                total += segment.Size;
            }

            int count = 0;
            while (count < segments.Length - 1)
            {
                LogSegment oldest = segments[count];
                bool belowStart = oldest.NextOffset <= _logStartOffset;
                bool expired = oldest.MaxTimestamp < cutoff;
                bool oversize = config.RetentionBytes is { } limit && total - oldest.Size >= limit;
                if (!belowStart && !expired && !oversize)
                {
                    break;
                }

                total -= oldest.Size;
                count++;
            }

            if (count > 0)
            {
                DeleteOldest(count);
            }

            return count;
        }
    }

    /// <summary>
    /// Moves the log start offset to <paramref name="offset"/> (DeleteRecords): offsets below it are no
    /// longer readable, and segments entirely below it are deleted. Returns the new log start offset.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is past the log end offset.</exception>
    public long DeleteRecordsBefore(long offset)
    {
        lock (_appendLock)
        {
            _ = Segments;
            ThrowIfUnusable();
            ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, _logEndOffset);
            if (offset > _logStartOffset)
            {
                Volatile.Write(ref _logStartOffset, offset);
                _epochs.TruncateFromStart(offset);
                int count = 0;
                while (count < _segments!.Length - 1 && _segments[count].NextOffset <= offset)
                {
                    count++;
                }

                if (count > 0)
                {
                    DeleteOldest(count);
                }
            }

            return _logStartOffset;
        }
    }

    /// <summary>
    /// Removes every batch whose last offset is ≥ <paramref name="offset"/>, so the log end offset
    /// becomes the base offset of the first removed batch (exactly <paramref name="offset"/> when it is
    /// a batch boundary). Truncated bytes are zeroed on disk so recovery cannot bring them back.
    /// Readers still holding slices of the removed range may see them change.
    /// </summary>
    /// <returns>The new log end offset.</returns>
    public long TruncateTo(long offset)
    {
        lock (_appendLock)
        {
            _ = Segments;
            ThrowIfUnusable();
            ArgumentOutOfRangeException.ThrowIfNegative(offset);
            if (offset >= _logEndOffset)
            {
                return _logEndOffset;
            }

            try
            {
                LogSegment[] segments = _segments!;
                long now = _time.GetTimestamp();
                if (offset <= segments[0].BaseOffset)
                {
                    // Everything goes: start again, empty, at the requested offset.
                    foreach (LogSegment segment in segments)
                    {
                        segment.Delete();
                    }

                    long start = Math.Max(offset, 0);
                    Volatile.Write(ref _segments, [LogSegment.Create(Directory, start, Config.SegmentBytes, Config, _cache, now)]);
                    Volatile.Write(ref _logStartOffset, start);
                    _epochs.Clear();
                }
                else
                {
                    int keep = FindSegment(segments, offset);
                    LogSegment target = segments[keep];
                    int position;
                    SegmentFiles files = target.Acquire() ?? throw new InvalidOperationException($"Segment {target.BaseOffset} is closed.");
                    try
                    {
                        position = target.FindPosition(files, offset);
                    }
                    finally
                    {
                        files.Release();
                    }

                    if (position == -2)
                    {
                        throw new IOException($"Segment {target.BaseOffset} of {Directory} has an impossible batch length.");
                    }

                    if (position < 0)
                    {
                        position = target.Size;
                    }

                    for (int i = keep + 1; i < segments.Length; i++)
                    {
                        segments[i].Delete();
                    }

                    target.Unseal(); // it becomes the active segment again
                    target.TruncateTo(position);
                    Volatile.Write(ref _segments, segments[..(keep + 1)]);
                }

                long end = _segments![^1].NextOffset;
                Volatile.Write(ref _logEndOffset, end);
                Volatile.Write(ref _logStartOffset, Math.Min(_logStartOffset, end));
                _epochs.TruncateFromEnd(end);
                Volatile.Write(ref _highWatermark, Math.Min(Volatile.Read(ref _highWatermark), end));
                Volatile.Write(ref _recoveryPoint, Math.Min(_recoveryPoint, end));
                Volatile.Write(ref _directoryDirty, true);
                return end;
            }
            catch (Exception e) when (e is IOException and not StorageLimitException or UnauthorizedAccessException)
            {
                throw Fail(e);
            }
        }
    }

    private bool AllSealedExpired(long cutoff)
    {
        for (int i = 0; i < _segments!.Length - 1; i++)
        {
            if (_segments[i].MaxTimestamp >= cutoff)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Caller: the append lock.</summary>
    private LogSegment Roll(int neededBytes, LogConfig config)
    {
        LogSegment active = _segments![^1];
        int capacity = Math.Max(config.SegmentBytes, neededBytes);
        long now = _time.GetTimestamp();
        LogSegment next;
        if (active.IsEmpty)
        {
            // Nothing to seal: the empty segment just takes the larger capacity. Nothing is deleted
            // and nothing created, so nothing can fail half way (M7).
            active.Grow(capacity);
            next = active;
        }
        else
        {
            next = LogSegment.Create(Directory, _logEndOffset, capacity, config, _cache, now);
            active.Seal();
            Volatile.Write(ref _segments, [.. _segments, next]);
            Log.RolledSegment(_logger, Directory, active.BaseOffset, active.Size, _logEndOffset);
            Volatile.Write(ref _directoryDirty, true);
        }

        return next;
    }

    /// <summary>Caller: the append lock. Deletes the <paramref name="count"/> oldest (never the active) segments.</summary>
    private void DeleteOldest(int count)
    {
        LogSegment[] segments = _segments!;
        Volatile.Write(ref _segments, segments[count..]);
        Volatile.Write(ref _logStartOffset, Math.Max(_logStartOffset, segments[count].BaseOffset));
        _epochs.TruncateFromStart(_logStartOffset);
        for (int i = 0; i < count; i++)
        {
            Log.DeletedSegment(_logger, Directory, segments[i].BaseOffset, segments[i].Size);
            segments[i].Delete();
        }

        Volatile.Write(ref _directoryDirty, true);
    }
}
