using LogBroker.Client.Network;

namespace LogBroker.Client.Producer;

/// <summary>A topic the producer writes to: its partitions' queues and the sticky partition for keyless records.</summary>
internal sealed class TopicState(string name)
{
    public string Name { get; } = name;

    public PartitionQueue[] Partitions { get; private set; } = [];

    public int Sticky { get; set; } = -1;

    /// <summary>Grows the partition array to the metadata's count and records each partition's leader.</summary>
    public void Update(TopicInfo info)
    {
        lock (this)
        {
            PartitionQueue[] current = Partitions;
            if (current.Length < info.PartitionCount)
            {
                var grown = new PartitionQueue[info.PartitionCount];
                Array.Copy(current, grown, current.Length);
                for (int i = current.Length; i < grown.Length; i++)
                {
                    grown[i] = new PartitionQueue(new TopicPartition(Name, i));
                }

                Partitions = grown;
                current = grown;
            }

            for (int i = 0; i < info.PartitionCount; i++)
            {
                current[i].Leader = info.Leaders[i];
            }

            if (Sticky < 0 || Sticky >= current.Length)
            {
                Sticky = Random.Shared.Next(current.Length);
            }
        }
    }
}

/// <summary>
/// One partition's batches: the open one being filled, the closed ones ready to send (retries in front),
/// and whether one is in flight. Guarded by its own lock; the accumulator's ready list holds the
/// partitions that have something to send, so the sender never scans the rest.
/// </summary>
internal sealed class PartitionQueue(TopicPartition partition)
{
    public TopicPartition Partition { get; } = partition;

    public volatile int Leader = -1;

    public ProducerBatch? Open { get; set; }

    /// <summary>Counts the open batches this queue has had; a linger entry is stale when it names an older one.</summary>
    public long OpenGeneration { get; set; }

    public ReadyQueue Ready { get; } = new();

    /// <summary>The newest batch not yet finished (what a flush waits for).</summary>
    public ProducerBatch? Tail { get; set; }

    public bool InFlight { get; set; }

    public int NextSequence { get; set; }

    /// <summary>True while the queue is on the accumulator's ready list (guarded by the accumulator's list lock).</summary>
    public bool Listed { get; set; }

    /// <summary>True while the queue waits out a retry's backoff on the accumulator's list (same lock).</summary>
    public bool BackingOff { get; set; }

    /// <summary>True while the queue waits for a leader on the accumulator's list (same lock).</summary>
    public bool Leaderless { get; set; }
}

/// <summary>A FIFO of closed batches with a front slot for retries.</summary>
internal sealed class ReadyQueue
{
    private readonly LinkedList<ProducerBatch> _list = new();

    public bool IsEmpty => _list.First is null;

    public void Enqueue(ProducerBatch batch) => _list.AddLast(batch);

    public void AddFirst(ProducerBatch batch) => _list.AddFirst(batch);

    public bool TryPeek([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ProducerBatch? batch)
    {
        batch = _list.First?.Value;
        return batch is not null;
    }

    public ProducerBatch Dequeue()
    {
        ProducerBatch batch = _list.First!.Value;
        _list.RemoveFirst();
        return batch;
    }

    public bool TryDequeue([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ProducerBatch? batch)
    {
        if (TryPeek(out batch))
        {
            _list.RemoveFirst();
            return true;
        }

        return false;
    }
}
