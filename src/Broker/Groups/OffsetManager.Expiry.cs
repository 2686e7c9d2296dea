namespace LogBroker.Broker.Groups;

/// <summary>Offset expiry (offsets.retention.minutes).</summary>
internal sealed partial class OffsetManager
{
    /// <summary>offsets.retention.minutes: a group without members loses its offsets (and its entry) once it has had none that long.</summary>
    public void ExpireIdle()
    {
        long now = _time.GetTimestamp();
        foreach (GroupEntry entry in _entries.Values)
        {
            lock (entry.Sync)
            {
                if (entry.Removed || entry.InUse || entry.Pending.Count > 0 || now < entry.ExpiryRetryAt || _time.GetElapsedTime(entry.EmptySince, now) < _retention)
                {
                    continue;
                }

                if (entry.Offsets.Count > 0)
                {
                    if (!TryAppend(entry.Id, Tombstones(entry), out _))
                    {
                        entry.ExpiryRetryAt = now + (long)(ExpiryRetry.TotalSeconds * _time.TimestampFrequency); // keep them, try later
                        continue;
                    }

                    entry.Offsets.Clear();
                }

                RecordGroup(entry, null);
                Remove(entry);
            }
        }
    }
}
