namespace LogBroker.Client.Consumer;

/// <summary>
/// Gives every partition waiting for a position one: an explicit offset, else the group's committed
/// offset (unless the position was reset after OFFSET_OUT_OF_RANGE), else auto.offset.reset (log start or
/// end), else a fatal error when the reset policy is Error.
/// </summary>
internal sealed class PositionResolver(ConsumerOptions options, AssignmentState assignment, IGroupOffsets offsets, Action<KafkaException> fatal)
{
    public async Task ResolveAsync(CancellationToken cancellationToken)
    {
        List<PendingPosition> pending = assignment.Unpositioned();
        if (pending.Count == 0)
        {
            return;
        }

        var resolved = new Dictionary<TopicPartition, long>();
        List<TopicPartition> stored = [];
        foreach (PendingPosition p in pending)
        {
            if (p.Seek >= 0)
            {
                resolved[p.Partition] = p.Seek;
            }
            else if (p.Seek == Offsets.Stored && options.GroupId is not null && !p.ResetOnly)
            {
                stored.Add(p.Partition);
            }
        }

        if (stored.Count > 0)
        {
            foreach (KeyValuePair<TopicPartition, long> kv in await offsets.FetchCommittedAsync(options.GroupId!, stored, cancellationToken).ConfigureAwait(false))
            {
                if (kv.Value >= 0)
                {
                    resolved[kv.Key] = kv.Value;
                }
            }
        }

        List<TopicPartition> earliest = [];
        List<TopicPartition> latest = [];
        foreach (PendingPosition p in pending)
        {
            if (resolved.ContainsKey(p.Partition))
            {
                continue;
            }

            if (p.Seek == Offsets.Beginning || (p.Seek == Offsets.Stored && options.AutoOffsetReset == AutoOffsetReset.Earliest))
            {
                earliest.Add(p.Partition);
            }
            else if (p.Seek == Offsets.End || (p.Seek == Offsets.Stored && options.AutoOffsetReset == AutoOffsetReset.Latest))
            {
                latest.Add(p.Partition);
            }
            else
            {
                fatal(new KafkaException(Protocol.ErrorCode.OffsetOutOfRange, $"{p.Partition} has no committed offset (or it is out of range) and AutoOffsetReset is Error."));
                return;
            }
        }

        foreach (KeyValuePair<TopicPartition, long> kv in await offsets.ListOffsetsAsync(earliest, Offsets.Beginning, cancellationToken).ConfigureAwait(false))
        {
            resolved[kv.Key] = kv.Value;
        }

        foreach (KeyValuePair<TopicPartition, long> kv in await offsets.ListOffsetsAsync(latest, Offsets.End, cancellationToken).ConfigureAwait(false))
        {
            resolved[kv.Key] = kv.Value;
        }

        assignment.Resolve(pending, resolved);
    }
}
