using LogBroker.Protocol.Records;
using LogBroker.Storage.Internal;

namespace LogBroker.Storage;

/// <summary>The read side: leased slices of stored batches, scans, and offset lookups by timestamp; no lock.</summary>
public sealed partial class PartitionLog
{
    /// <summary>
    /// Reads stored batches starting with the one that holds <paramref name="offset"/>: whole batches
    /// up to <paramref name="maxBytes"/>, but always at least one whole batch, however large. A read
    /// never spans two segments (call again from the next offset). Dispose the result.
    /// </summary>
    public LogReadResult Read(long offset, int maxBytes)
    {
        if (IsUnreadable)
        {
            // The load failed: the placeholder is empty, but the partition is not. Never serve it as empty.
            return new LogReadResult(ReadStatus.StorageError, default, Volatile.Read(ref _logStartOffset), Volatile.Read(ref _logEndOffset), null);
        }

        for (int attempt = 0; ; attempt++)
        {
            long start = LogStartOffset;
            long end = LogEndOffset;
            if (offset < start || offset > end)
            {
                return new LogReadResult(ReadStatus.OffsetOutOfRange, default, start, end, null);
            }

            if (offset == end || attempt > 3)
            {
                // At the end; or the range keeps vanishing under us (a concurrent truncation).
                return new LogReadResult(ReadStatus.Success, default, start, end, null);
            }

            LogSegment[] segments = Segments;
            for (int i = Math.Max(0, FindSegment(segments, offset)); i < segments.Length; i++)
            {
                LogSegment segment = segments[i];
                SegmentFiles? files;
                int position, length;
                try
                {
                    files = segment.TryAcquire(out bool limitReached);
                    if (limitReached)
                    {
                        // Every open segment is in use (a fetch of more partitions than the bound):
                        // transient, so no exception and no warning per partition.
                        Log.ReadLimited(_logger, Directory, offset);
                        return new LogReadResult(ReadStatus.SegmentLimit, default, start, end, null);
                    }

                    if (files is null)
                    {
                        break; // deleted or closed meanwhile: start over with the new list
                    }

                    try
                    {
                        position = segment.FindPosition(files, offset);
                        length = position < 0 ? 0 : segment.LengthOfBatches(files, position, maxBytes);
                    }
                    catch
                    {
                        files.Release();
                        throw;
                    }
                }
                catch (FileNotFoundException)
                {
                    break; // deleted between the list and the open: start over
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Log.ReadFailed(_logger, e, Directory, offset);
                    return new LogReadResult(ReadStatus.StorageError, default, start, end, null);
                }

                if (position == -1)
                {
                    files.Release();
                    continue;
                }

                if (position < 0 || length < 0)
                {
                    files.Release();
                    Log.CorruptSegment(_logger, Directory, segment.BaseOffset, offset);
                    return new LogReadResult(ReadStatus.StorageError, default, start, end, null);
                }

                return new LogReadResult(ReadStatus.Success, files.Log.Memory.Slice(position, length), start, end, files);
            }
        }
    }

    /// <summary>
    /// Calls <paramref name="visit"/> for every stored batch from the one holding
    /// <paramref name="fromOffset"/> to the end of the log as it was when the scan started (for
    /// rebuilding state from the log: producer state, committed offsets).
    /// </summary>
    public void ScanBatches(long fromOffset, BatchVisitor visit) => ScanBatches(fromOffset, visit, int.MaxValue);

    /// <summary><see cref="ScanBatches(long, BatchVisitor)"/> that stops after <paramref name="maxBatches"/> batches.</summary>
    public void ScanBatches(long fromOffset, BatchVisitor visit, int maxBatches)
    {
        ArgumentNullException.ThrowIfNull(visit);
        long offset = Math.Max(fromOffset, LogStartOffset);
        long end = LogEndOffset;
        int visited = 0;
        while (offset < end && visited < maxBatches)
        {
            using LogReadResult read = Read(offset, 4 * 1024 * 1024);
            if (read.Status != ReadStatus.Success || read.Records.IsEmpty)
            {
                return;
            }

            if (read.Status != ReadStatus.Success)
            {
                return;
            }

            ReadOnlySpan<byte> batches = read.Records.Span;
            while (batches.Length >= RecordBatch.HeaderSize && visited++ < maxBatches)
            {
                RecordBatchHeader header = RecordBatchHeader.Read(batches);
                if (header.BatchLength < RecordBatch.MinBatchLength || header.TotalSize > batches.Length)
                {
                    return; // an impossible stored length (M8): stop rather than loop
                }

                visit(header, batches[..header.TotalSize]);
                offset = header.LastOffset + 1;
                batches = batches[header.TotalSize..];
            }
        }
    }

    /// <summary>
    /// The first offset whose record timestamp is ≥ <paramref name="timestamp"/> (ms since the epoch)
    /// and that record's timestamp; null when no record is that recent. See
    /// <see cref="LogSegment.FindByTimestamp"/> for compressed batches.
    /// </summary>
    public (long Offset, long Timestamp)? OffsetForTimestamp(long timestamp)
    {
        LogSegment[] segments = Segments;
        foreach (LogSegment segment in segments)
        {
            if (segment.MaxTimestamp < timestamp || segment.Acquire() is not { } files)
            {
                continue;
            }

            try
            {
                if (segment.FindByTimestamp(files, timestamp) is { } found)
                {
                    long start = LogStartOffset;
                    return found.Offset >= start ? found : (start, found.Timestamp);
                }
            }
            finally
            {
                files.Release();
            }
        }

        return null;
    }

    /// <summary>The greatest batch max timestamp and the base offset of its batch, or null when empty.</summary>
    public (long Offset, long Timestamp)? MaxTimestamp()
    {
        (long Offset, long Timestamp)? best = null;
        foreach (LogSegment segment in Segments)
        {
            if (!segment.IsEmpty && (best is null || segment.MaxTimestamp > best.Value.Timestamp))
            {
                best = (Math.Max(segment.OffsetOfMaxTimestamp, LogStartOffset), segment.MaxTimestamp);
            }
        }

        return best;
    }
}

/// <summary>Receives one stored batch during <see cref="PartitionLog.ScanBatches(long, BatchVisitor)"/>; the span is valid only during the call.</summary>
public delegate void BatchVisitor(in RecordBatchHeader header, ReadOnlySpan<byte> batch);
