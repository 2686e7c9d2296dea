using System.Globalization;
using LogBroker.Storage.Internal;
using Microsoft.Extensions.Logging;

namespace LogBroker.Storage;

/// <summary>Loading a partition from its directory, recovery of what a crash left, and the failed state with its retry.</summary>
public sealed partial class PartitionLog
{
    /// <summary>
    /// Caller: the append lock. Lists and opens the segments. On failure the partition is failed
    /// (an empty placeholder at the checkpointed log start offset; writes retry later) unless
    /// <paramref name="throwOnFailure"/>.
    /// </summary>
    private LogSegment[] Load(bool throwOnFailure)
    {
        long started = _time.GetTimestamp();
        try
        {
            LogSegment[] segments = OpenSegments(_needsRecovery, out long end);
            _needsRecovery = false;
            ApplyLoaded(segments, end);
            _epochs.Load(this, _logStartOffset, end);
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                double milliseconds = _time.GetElapsedTime(started).TotalMilliseconds;
                Log.LoadedPartition(_logger, Directory, segments.Length, _logStartOffset, end, milliseconds);
            }
            return segments;
        }
        catch (Exception e) when (!throwOnFailure && e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            Log.LoadFailed(_logger, e, Directory);
            _failure = e;
            _loadFailed = true;
            _failedTimestamp = FailedAt(e);
            LogSegment placeholder = LogSegment.Placeholder(Directory, _logStartOffset, Config, _cache, _time.GetTimestamp());
            ApplyLoaded([placeholder], _logStartOffset);
            return [placeholder];
        }
    }

    private void ApplyLoaded(LogSegment[] segments, long end)
    {
        Volatile.Write(ref _logEndOffset, end);
        Volatile.Write(ref _logStartOffset, Math.Clamp(_logStartOffset, segments[0].BaseOffset, end));
        // After a clean close everything was flushed; after recovery the scanned segments were
        // fsynced (or the whole file system was synced at start). Either way the log is on disk now.
        Volatile.Write(ref _recoveryPoint, end);
        Volatile.Write(ref _segments, segments);
    }

    /// <summary>Caller: the append lock. Opens every segment in the directory; see <see cref="Open"/>.</summary>
    private LogSegment[] OpenSegments(bool recoverAll, out long end)
    {
        LogConfig config = Config;
        long now = _time.GetTimestamp();
        long recoveryPoint = _recoveryPoint;
        List<long> bases;
        try
        {
            bases = ListSegmentBases(Directory);
        }
        catch (IOException e) when (e is not StorageLimitException && Posix.IsResourceExhaustion(e))
        {
            // Listing the directory takes a descriptor: make room once, else a transient refusal.
            if (_cache.Relieve() == 0)
            {
                throw new StorageLimitException($"{Directory} cannot be listed now: the process's open-file limit is reached.", e);
            }

            try
            {
                bases = ListSegmentBases(Directory);
            }
            catch (IOException again) when (again is not StorageLimitException && Posix.IsResourceExhaustion(again))
            {
                throw new StorageLimitException($"{Directory} cannot be listed now: the process's open-file limit is reached.", again);
            }
        }

        var segments = new List<LogSegment>(bases.Count + 1);
        try
        {
            for (int i = 0; i < bases.Count; i++)
            {
                bool last = i == bases.Count - 1;
                bool recover = recoverAll && (last || bases[i + 1] > recoveryPoint);
                LogSegment segment = LogSegment.Open(Directory, bases[i], config, _cache, active: last, recover, now, out int discarded, out bool damaged);
                segments.Add(segment);
                if (recover && _flushRecovered)
                {
                    segment.Flush();
                }

                if (damaged && !last)
                {
                    // Everything after the first bad batch goes, later segments included; the
                    // damaged segment becomes the active one. The deletions are made durable before
                    // anything is appended (M9): otherwise a second crash could bring them back
                    // under offsets the new appends reuse.
                    Log.TruncatedSegment(_logger, Directory, bases[i], discarded, bases.Count - i - 1);
                    for (int j = i + 1; j < bases.Count; j++)
                    {
                        DeleteSegmentFiles(Directory, bases[j]);
                    }

                    Posix.FsyncDirectory(Directory);
                    segment.Unseal();
                    break;
                }

                if (damaged)
                {
                    Log.TruncatedSegment(_logger, Directory, bases[i], discarded, 0);
                }
            }

            if (segments.Count == 0)
            {
                // A new (or emptied) partition: the first segment's files appear with its first append.
                segments.Add(LogSegment.Create(Directory, Math.Max(0, _logStartOffset), config.SegmentBytes, config, _cache, now));
                Volatile.Write(ref _directoryDirty, true);
            }
        }
        catch
        {
            foreach (LogSegment segment in segments)
            {
                segment.Retire();
            }

            throw;
        }

        end = segments[^1].NextOffset;
        return [.. segments];
    }

    private static List<long> ListSegmentBases(string directory)
    {
        var bases = new List<long>();
        foreach (string path in System.IO.Directory.EnumerateFiles(directory, "*.log"))
        {
            string stem = Path.GetFileNameWithoutExtension(path);
            if (stem.Length == 20 && long.TryParse(stem, NumberStyles.None, CultureInfo.InvariantCulture, out long baseOffset))
            {
                bases.Add(baseOffset);
            }
        }

        bases.Sort();
        return bases;
    }

    private static void DeleteSegmentFiles(string directory, long baseOffset)
    {
        string stem = Path.Combine(directory, LogSegment.FileStem(baseOffset));
        File.Delete(stem + ".log");
        File.Delete(stem + ".index");
        File.Delete(stem + ".timeindex");
    }

    /// <summary>Caller: the append lock, partition loaded. A failed partition is reloaded once <see cref="RetryInterval"/> has passed.</summary>
    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (_failure is not null && !(_time.GetElapsedTime(_failedTimestamp) >= RetryInterval && TryReload()))
        {
            throw new IOException($"Partition {Directory} failed earlier and accepts no more writes for now: {_failure.Message}", _failure);
        }
    }

    /// <summary>A partition whose load failed retries it on reads too (not only on writes), once the retry interval has passed.</summary>
    private void RetryFailedLoad()
    {
        lock (_appendLock)
        {
            if (_loadFailed && !_closed && _time.GetElapsedTime(_failedTimestamp) >= RetryInterval)
            {
                _ = TryReload();
            }
        }
    }

    /// <summary>
    /// Caller: the append lock. Reopens the partition from disk after a failure, recovering the
    /// tail of every segment past the recovery point (what a failed write may have left there); on
    /// success the partition accepts writes again. Readers of the old segments keep their leases.
    /// </summary>
    private bool TryReload()
    {
        LogSegment[] old = _segments!;
        LogSegment[] reopened;
        long end;
        try
        {
            reopened = OpenSegments(recoverAll: true, out end);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            _failedTimestamp = FailedAt(e);
            Log.ReloadFailed(_logger, Directory, e.Message);
            return false;
        }

        foreach (LogSegment segment in old)
        {
            segment.Retire();
        }

        long start = _logStartOffset;
        long durable = _recoveryPoint;
        ApplyLoaded(reopened, end);
        // What was appended since the last flush is not durable just because it was re-read.
        Volatile.Write(ref _recoveryPoint, Math.Min(durable, end));
        Volatile.Write(ref _logStartOffset, Math.Clamp(start, reopened[0].BaseOffset, end));
        Volatile.Write(ref _directoryDirty, true);
        _needsRecovery = false;
        _loadFailed = false;
        _failure = null;
        _epochs.Load(this, _logStartOffset, end); // recovery may have cut the tail the file still lists
        Log.Reloaded(_logger, Directory, end);
        return true;
    }

    /// <summary>
    /// The timestamp a failure counts from: now, or — for a <see cref="StorageLimitException"/>
    /// (no descriptor or mapping free just now, nothing wrong with the partition) — one retry
    /// interval ago, so that the next use tries the load again at once instead of waiting.
    /// </summary>
    private long FailedAt(Exception e)
    {
        long now = _time.GetTimestamp();
        return e is StorageLimitException || (e is IOException io && Posix.IsResourceExhaustion(io)) ? now - (long)(RetryInterval.TotalSeconds * _time.TimestampFrequency) - 1 : now;
    }

    private IOException Fail(Exception e)
    {
        if (_failure is null)
        {
            _failure = e;
            _failedTimestamp = _time.GetTimestamp();
        }

        Log.PartitionFailed(_logger, e, Directory);
        return e as IOException ?? new IOException(e.Message, e);
    }
}
