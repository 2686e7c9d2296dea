namespace LogBroker.Client.Producer;

/// <summary>
/// Idempotence: the producer id and epoch from InitProducerId, and each partition's next sequence. A
/// batch gets its sequence once and keeps it for every retry; losing the sequence (OUT_OF_ORDER_SEQUENCE,
/// UNKNOWN_PRODUCER_ID) marks the id stale, and the next send asks for a new one and renumbers.
/// </summary>
internal sealed class ProducerIdState(bool enabled)
{
    private long _producerId = -1;
    private short _epoch = -1;
    private volatile bool _stale = true;

    public bool Enabled => enabled;

    /// <summary>True when a new producer id must be fetched before the next send.</summary>
    public bool NeedsId => enabled && _stale;

    public long ProducerId => _producerId;

    public short Epoch => _epoch;

    public void MarkStale() => _stale = true;

    /// <summary>Takes a new id; the caller resets every partition's sequence before the next send.</summary>
    public void Set(long producerId, short epoch)
    {
        _producerId = producerId;
        _epoch = epoch;
        _stale = false;
    }

    /// <summary>Writes producer id, epoch and the partition's next sequence into a sealed batch that has none yet.</summary>
    public void Stamp(PartitionQueue pq, ProducerBatch batch)
    {
        if (!enabled || batch.HasSequence)
        {
            return;
        }

        int sequence;
        lock (pq)
        {
            sequence = pq.NextSequence;
            pq.NextSequence = (int)((pq.NextSequence + (long)batch.Count) % ((long)int.MaxValue + 1));
        }

        batch.SetProducer(_producerId, _epoch, sequence);
    }
}
