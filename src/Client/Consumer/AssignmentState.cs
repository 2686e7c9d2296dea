namespace LogBroker.Client.Consumer;

/// <summary>One assigned partition's positions. Guarded by the <see cref="AssignmentState"/>'s lock.</summary>
internal sealed class PartitionState(TopicPartition partition, int epoch)
{
    public TopicPartition Partition { get; } = partition;

    /// <summary>Changes with every seek, pause and reset; fetched data of an older epoch is dropped.</summary>
    public int Epoch { get; set; } = epoch;

    /// <summary>The next offset to deliver to the application (-1: not known yet).</summary>
    public long Position { get; set; } = -1;

    /// <summary>The next offset to fetch (-1: not known yet).</summary>
    public long FetchPosition { get; set; } = -1;

    /// <summary>Where to start when the position is unknown; long.MinValue once resolved.</summary>
    public long PendingSeek { get; set; } = Offsets.Stored;

    /// <summary>True after OFFSET_OUT_OF_RANGE: apply auto.offset.reset, not the committed offset.</summary>
    public bool ResetOnly { get; set; }

    public bool Paused { get; set; }

    public long HighWatermark { get; set; } = -1;

    public long Committed { get; set; } = -1;

    /// <summary>The broker the partition is fetched from (-1: look it up in the metadata).</summary>
    public int Leader { get; set; } = -1;
}

/// <summary>A partition whose position is being resolved, as taken at the start of the resolution.</summary>
internal readonly record struct PendingPosition(TopicPartition Partition, long Seek, int Epoch, bool ResetOnly);

/// <summary>A partition to fetch, as taken when the request is built.</summary>
internal readonly record struct FetchTarget(TopicPartition Partition, long Offset, int Epoch);

/// <summary>
/// The consumer's assignment and every partition's positions, behind one lock: what the façade, the
/// fetch sources, the position resolver, the committer and the group membership read and change.
/// </summary>
internal sealed class AssignmentState
{
    private readonly Lock _lock = new();
    private readonly Dictionary<TopicPartition, PartitionState> _assigned = [];
    private int _epochCounter;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _assigned.Count;
            }
        }
    }

    private int NextEpoch() => Interlocked.Increment(ref _epochCounter);

    /// <summary>The assigned partitions, sorted by topic and partition.</summary>
    public List<TopicPartition> Sorted()
    {
        List<TopicPartition> list = Owned();
        list.Sort(static (a, b) => a.Topic == b.Topic ? a.Partition.CompareTo(b.Partition) : string.CompareOrdinal(a.Topic, b.Topic));
        return list;
    }

    public List<TopicPartition> Owned()
    {
        lock (_lock)
        {
            return [.. _assigned.Keys];
        }
    }

    /// <summary>Replaces the assignment; each partition starts at its offset (or special value).</summary>
    public void Replace(IEnumerable<TopicPartitionOffset> partitions)
    {
        lock (_lock)
        {
            _assigned.Clear();
            foreach (TopicPartitionOffset tpo in partitions)
            {
                _assigned[tpo.TopicPartition] = new PartitionState(tpo.TopicPartition, NextEpoch()) { PendingSeek = tpo.Offset };
            }
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _assigned.Clear();
        }
    }

    /// <summary>Adds partitions not yet assigned; they start from the committed offset.</summary>
    public void Add(IReadOnlyList<TopicPartition> partitions)
    {
        lock (_lock)
        {
            foreach (TopicPartition tp in partitions)
            {
                if (!_assigned.ContainsKey(tp))
                {
                    _assigned[tp] = new PartitionState(tp, NextEpoch()) { PendingSeek = Offsets.Stored };
                }
            }
        }
    }

    public void Remove(IReadOnlyList<TopicPartition> partitions)
    {
        lock (_lock)
        {
            foreach (TopicPartition tp in partitions)
            {
                _assigned.Remove(tp);
            }
        }
    }

    public long? Position(TopicPartition partition)
    {
        lock (_lock)
        {
            return _assigned.TryGetValue(partition, out PartitionState? s) && s.Position >= 0 ? s.Position : null;
        }
    }

    /// <summary>False when the partition is not assigned.</summary>
    public bool Seek(TopicPartitionOffset target)
    {
        lock (_lock)
        {
            if (!_assigned.TryGetValue(target.TopicPartition, out PartitionState? s))
            {
                return false;
            }

            s.Epoch = NextEpoch();
            s.Position = -1;
            s.FetchPosition = -1;
            s.PendingSeek = target.Offset;
            return true;
        }
    }

    public void SetPaused(IEnumerable<TopicPartition> partitions, bool paused)
    {
        lock (_lock)
        {
            foreach (TopicPartition tp in partitions)
            {
                if (_assigned.TryGetValue(tp, out PartitionState? s))
                {
                    s.Paused = paused;
                    if (paused)
                    {
                        // Data fetched while pausing is dropped and fetched again on resume.
                        s.Epoch = NextEpoch();
                        s.FetchPosition = s.Position;
                    }
                }
            }
        }
    }

    /// <summary>
    /// True when a fetched batch is still current (same epoch, not behind the position); the position then
    /// moves past it. A stale batch is for the caller to release.
    /// </summary>
    public bool TryDeliver(TopicPartition partition, int epoch, long lastOffset)
    {
        lock (_lock)
        {
            if (_assigned.TryGetValue(partition, out PartitionState? s) && s.Epoch == epoch && lastOffset >= s.Position)
            {
                s.Position = lastOffset + 1;
                return true;
            }

            return false;
        }
    }

    /// <summary>Positions of every partition that has one (what a commit of everything sends).</summary>
    public List<TopicPartitionOffset> Positions(bool changedOnly, IReadOnlyList<TopicPartition>? only = null)
    {
        var list = new List<TopicPartitionOffset>();
        lock (_lock)
        {
            if (only is null)
            {
                foreach (PartitionState s in _assigned.Values)
                {
                    AddPosition(list, s, changedOnly);
                }
            }
            else
            {
                foreach (TopicPartition tp in only)
                {
                    if (_assigned.TryGetValue(tp, out PartitionState? s))
                    {
                        AddPosition(list, s, changedOnly);
                    }
                }
            }
        }

        return list;
    }

    private static void AddPosition(List<TopicPartitionOffset> list, PartitionState s, bool changedOnly)
    {
        if (s.Position >= 0 && (!changedOnly || s.Position != s.Committed))
        {
            list.Add(new TopicPartitionOffset(s.Partition.Topic, s.Partition.Partition, s.Position));
        }
    }

    public void MarkCommitted(List<TopicPartitionOffset> offsets)
    {
        lock (_lock)
        {
            foreach (TopicPartitionOffset o in offsets)
            {
                if (_assigned.TryGetValue(o.TopicPartition, out PartitionState? s))
                {
                    s.Committed = o.Offset;
                }
            }
        }
    }

    /// <summary>Partitions waiting for a position.</summary>
    public List<PendingPosition> Unpositioned()
    {
        List<PendingPosition> pending = [];
        lock (_lock)
        {
            foreach (PartitionState s in _assigned.Values)
            {
                if (s.FetchPosition < 0 && s.PendingSeek != long.MinValue)
                {
                    pending.Add(new PendingPosition(s.Partition, s.PendingSeek, s.Epoch, s.ResetOnly));
                }
            }
        }

        return pending;
    }

    /// <summary>Sets resolved positions, unless the partition was sought or reassigned meanwhile.</summary>
    public void Resolve(List<PendingPosition> pending, Dictionary<TopicPartition, long> resolved)
    {
        lock (_lock)
        {
            foreach (PendingPosition p in pending)
            {
                if (resolved.TryGetValue(p.Partition, out long offset) && _assigned.TryGetValue(p.Partition, out PartitionState? s) && s.Epoch == p.Epoch)
                {
                    s.Position = offset;
                    s.FetchPosition = offset;
                    s.PendingSeek = long.MinValue;
                    s.ResetOnly = false;
                }
            }
        }
    }

    /// <summary>
    /// Partitions that can be fetched from <paramref name="node"/>; with <paramref name="node"/> -1, those
    /// whose leader is not known yet (they go to <paramref name="into"/> for a metadata lookup).
    /// </summary>
    public void Fetchable(int node, List<FetchTarget> into)
    {
        lock (_lock)
        {
            foreach (PartitionState s in _assigned.Values)
            {
                if (!s.Paused && s.FetchPosition >= 0 && s.Leader == node)
                {
                    into.Add(new FetchTarget(s.Partition, s.FetchPosition, s.Epoch));
                }
            }
        }
    }

    /// <summary>Records the leader of each partition (absent: unknown).</summary>
    public void SetLeaders(Func<TopicPartition, int> leaderOf)
    {
        lock (_lock)
        {
            foreach (PartitionState s in _assigned.Values)
            {
                if (s.Leader < 0)
                {
                    s.Leader = leaderOf(s.Partition);
                }
            }
        }
    }

    /// <summary>Forgets the leader of the partitions (after a fetch error) so it is looked up again.</summary>
    public void ForgetLeader(TopicPartition partition)
    {
        lock (_lock)
        {
            if (_assigned.TryGetValue(partition, out PartitionState? s))
            {
                s.Leader = -1;
            }
        }
    }

    /// <summary>OFFSET_OUT_OF_RANGE for a fetch at <paramref name="epoch"/>: reset by auto.offset.reset. False when stale.</summary>
    public bool ResetOutOfRange(TopicPartition partition, int epoch)
    {
        lock (_lock)
        {
            if (_assigned.TryGetValue(partition, out PartitionState? s) && s.Epoch == epoch)
            {
                s.Epoch = NextEpoch();
                s.Position = -1;
                s.FetchPosition = -1;
                s.PendingSeek = Offsets.Stored;
                s.ResetOnly = true;
                return true;
            }

            return false;
        }
    }

    /// <summary>
    /// A fetched batch for a fetch at (<paramref name="offset"/>, <paramref name="epoch"/>): when still
    /// current, records the high watermark and moves the fetch position to <paramref name="next"/>.
    /// Null when stale; false when the batch was corrupt (the position stays).
    /// </summary>
    public bool? Fetched(TopicPartition partition, long offset, int epoch, long highWatermark, bool ok, long next)
    {
        lock (_lock)
        {
            if (!_assigned.TryGetValue(partition, out PartitionState? s) || s.Epoch != epoch || s.FetchPosition != offset)
            {
                return null;
            }

            s.HighWatermark = highWatermark;
            if (ok)
            {
                s.FetchPosition = next;
            }

            return ok;
        }
    }
}
