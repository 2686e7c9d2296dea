using LogBroker.Storage.Checkpoints;

namespace LogBroker.Storage;

/// <summary>
/// The leader epochs of one partition's log: for each epoch, the first offset written in it
/// (epochs strictly increasing, offsets non-decreasing), kept in the partition directory's
/// <c>leader-epoch-checkpoint</c>. A follower asks the leader where its last epoch ends
/// (OffsetForLeaderEpoch) to know where to truncate.
/// </summary>
/// <remarks>
/// Changed only by its <see cref="PartitionLog"/> under the append lock; every change is written to
/// the file before it is relied on (a new epoch is written before its first batch, so after a crash
/// the file is never behind the log, only ahead of it, and loading truncates it to the log end).
/// Readers take no lock: the entries are an immutable array replaced on change.
/// </remarks>
public sealed class LeaderEpochCache
{
    /// <summary>No epoch / no offset, as Kafka answers an unknown epoch.</summary>
    public const int Undefined = -1;

    private readonly string _path;
    private EpochEntry[] _entries = [];
    private int _latestEpoch = Undefined;

    internal LeaderEpochCache(string directory) => _path = Path.Combine(directory, LeaderEpochCheckpointFile.FileName);

    /// <summary>The entries, oldest first (a snapshot).</summary>
    public IReadOnlyList<EpochEntry> Entries => Volatile.Read(ref _entries);

    /// <summary>The newest epoch, or -1 when there is none. The append path compares with it.</summary>
    public int LatestEpoch => _latestEpoch;

    /// <summary>
    /// The epoch the follower asked for (or the largest known below it) and where it ends: the next
    /// epoch's start offset, or <paramref name="logEndOffset"/> for the newest epoch. An epoch below
    /// every known one ends where the first known one starts. (-1, -1) for -1, for an epoch above
    /// every known one, and when nothing is known.
    /// </summary>
    public (int Epoch, long EndOffset) EndOffsetFor(int epoch, long logEndOffset)
    {
        EpochEntry[] entries = Volatile.Read(ref _entries);
        if (epoch == Undefined || entries.Length == 0)
        {
            return (Undefined, Undefined);
        }

        if (epoch == entries[^1].Epoch)
        {
            return (epoch, logEndOffset);
        }

        // The first entry with a larger epoch: the requested epoch (or the one before it) ends there.
        int higher = 0;
        while (higher < entries.Length && entries[higher].Epoch <= epoch)
        {
            higher++;
        }

        if (higher == entries.Length)
        {
            return (Undefined, Undefined);
        }

        return higher == 0 ? (epoch, entries[0].StartOffset) : (entries[higher - 1].Epoch, entries[higher].StartOffset);
    }

    /// <summary>Caller: the append lock. Loads the file, or rebuilds from the log when it is missing or invalid, and fits it to the log's range.</summary>
    internal void Load(PartitionLog log, long logStartOffset, long logEndOffset)
    {
        EpochEntry[]? stored;
        try
        {
            stored = LeaderEpochCheckpointFile.Read(_path);
        }
        catch (IOException)
        {
            stored = null;
        }

        bool rewrite = false;
        if (stored is null)
        {
            stored = Rebuild(log);
            rewrite = true;
        }

        Set(stored);
        rewrite |= TruncateFromEndCore(logEndOffset) | TruncateFromStartCore(logStartOffset);
        if (rewrite)
        {
            TryPersist(); // a failed write is redone from the log at the next load
        }
    }

    /// <summary>Caller: the append lock. Records that <paramref name="epoch"/> starts at <paramref name="startOffset"/> when it is newer than the latest.</summary>
    /// <exception cref="IOException">The file could not be written (the entry is kept in memory).</exception>
    internal void Assign(int epoch, long startOffset)
    {
        if (epoch <= _latestEpoch || epoch < 0)
        {
            return;
        }

        EpochEntry[] entries = _entries;
        // Offsets must not go back: entries starting past the new one are stale (a truncated tail).
        int keep = entries.Length;
        while (keep > 0 && entries[keep - 1].StartOffset > startOffset)
        {
            keep--;
        }

        int drop = keep >= LeaderEpochCheckpointFile.MaxEntries ? keep - LeaderEpochCheckpointFile.MaxEntries + 1 : 0;
        Set([.. entries.AsSpan(drop, keep - drop), new EpochEntry(epoch, startOffset)]);
        Persist();
    }

    /// <summary>Caller: the append lock. Drops the entries starting at or after <paramref name="endOffset"/> (the log was truncated there).</summary>
    internal void TruncateFromEnd(long endOffset)
    {
        if (TruncateFromEndCore(endOffset))
        {
            Persist();
        }
    }

    /// <summary>
    /// Caller: the append lock. The log now starts at <paramref name="startOffset"/>: entries wholly
    /// before it go, and the one it falls in starts there. A failed write is repaired at load (the
    /// entries are fitted to the log start again), so it is not an error of the caller's operation.
    /// </summary>
    internal void TruncateFromStart(long startOffset)
    {
        if (TruncateFromStartCore(startOffset))
        {
            TryPersist();
        }
    }

    /// <summary>Caller: the append lock. Forgets every entry (the log was emptied).</summary>
    internal void Clear()
    {
        if (_entries.Length > 0)
        {
            Set([]);
            Persist();
        }
    }

    /// <summary>
    /// The entries from the stored batches. Epochs never go down along the log, so when its first
    /// and last batches carry the same epoch that is the only one (no full scan: a single node's
    /// partitions, all in epoch 0, keep no file at all); otherwise every batch is read.
    /// </summary>
    private static EpochEntry[] Rebuild(PartitionLog log)
    {
        try
        {
            (int Epoch, long Offset)? first = null;
            log.ScanBatches(log.LogStartOffset, (in header, _) => first ??= (header.PartitionLeaderEpoch, header.BaseOffset), maxBatches: 1);
            if (first is not { } start)
            {
                return [];
            }

            int last = Undefined;
            log.ScanBatches(log.LogEndOffset - 1, (in header, _) => last = header.PartitionLeaderEpoch, maxBatches: 1);

            if (last == start.Epoch)
            {
                return start.Epoch < 0 ? [] : [new EpochEntry(start.Epoch, start.Offset)];
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // Fall back to the full scan, which keeps what it could read.
        }

        var rebuilt = new List<EpochEntry>();
        int latest = Undefined;
        try
        {
            log.ScanBatches(0, (in header, _) =>
            {
                if (header.PartitionLeaderEpoch > latest)
                {
                    latest = header.PartitionLeaderEpoch;
                    if (rebuilt.Count == LeaderEpochCheckpointFile.MaxEntries)
                    {
                        rebuilt.RemoveAt(0);
                    }

                    rebuilt.Add(new EpochEntry(latest, header.BaseOffset));
                }
            });
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // What was read so far is kept: the epochs of an unreadable tail are unknown.
        }

        return [.. rebuilt];
    }

    private bool TruncateFromEndCore(long endOffset)
    {
        EpochEntry[] entries = _entries;
        int keep = entries.Length;
        while (keep > 0 && entries[keep - 1].StartOffset >= endOffset)
        {
            keep--;
        }

        if (keep == entries.Length)
        {
            return false;
        }

        Set(entries[..keep]);
        return true;
    }

    private bool TruncateFromStartCore(long startOffset)
    {
        EpochEntry[] entries = _entries;
        if (entries.Length == 0 || entries[0].StartOffset >= startOffset)
        {
            return false;
        }

        // The last entry starting at or before the new start covers it.
        int floor = 0;
        while (floor + 1 < entries.Length && entries[floor + 1].StartOffset <= startOffset)
        {
            floor++;
        }

        EpochEntry[] kept = entries[floor..];
        kept[0] = kept[0] with { StartOffset = startOffset };
        Set(kept);
        return true;
    }

    private void Set(EpochEntry[] entries)
    {
        Volatile.Write(ref _entries, entries);
        _latestEpoch = entries.Length == 0 ? Undefined : entries[^1].Epoch;
    }

    /// <summary>
    /// Writes the file, or — for at most one entry, which <see cref="Rebuild"/> derives from the first
    /// and last batches — removes it: a single node (always epoch 0) then writes no file and pays
    /// nothing on disk (a stale file coming back after a crash is fitted to the log at load).
    /// </summary>
    private void Persist()
    {
        if (_entries.Length <= 1)
        {
            File.Delete(_path);
        }
        else
        {
            LeaderEpochCheckpointFile.Write(_path, _entries);
        }
    }

    private void TryPersist()
    {
        try
        {
            Persist();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // See the callers: the next load fits the entries to the log again.
        }
    }
}
