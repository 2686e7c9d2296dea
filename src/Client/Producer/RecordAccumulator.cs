using System.Collections.Concurrent;
using LogBroker.Client.Network;
using LogBroker.Protocol;

namespace LogBroker.Client.Producer;

/// <summary>
/// The producer's buffer: records are appended to their partition's open batch; a batch closes when full
/// or when it has lingered long enough, and then waits on the ready list for the sender. The sender
/// drains only what the lists name (partitions with a lingering batch, a ready batch, or a retry waiting
/// out its backoff), never every partition. It also applies the result policy: retry after backoff, new
/// sequence after a lost one, fail after the delivery timeout. All time comes from the injected clock.
/// </summary>
/// <remarks>Lock order: a partition queue's lock, then <see cref="_listLock"/>.</remarks>
internal sealed class RecordAccumulator
{
    private readonly ProducerOptions _options;
    private readonly BufferMemory _memory;
    private readonly ProducerIdState _producerId;
    private readonly TimeProvider _time;
    private readonly Action _wake;
    private readonly ConcurrentDictionary<string, TopicState> _topics = new(StringComparer.Ordinal);
    private readonly Lock _listLock = new();
    private readonly Queue<(PartitionQueue Queue, long Generation, DateTimeOffset Due)> _lingering = new();
    private readonly Queue<PartitionQueue> _ready = new();
    private readonly List<(PartitionQueue Queue, DateTimeOffset Due)> _backingOff = [];
    private readonly List<PartitionQueue> _leaderless = [];
    private readonly List<PartitionQueue> _candidates = [];
    private readonly List<(PartitionQueue Queue, long Generation)> _expired = [];
    private long _unfinished;

    public RecordAccumulator(ProducerOptions options, BufferMemory memory, ProducerIdState producerId, TimeProvider time, Action wake)
    {
        _options = options;
        _memory = memory;
        _producerId = producerId;
        _time = time;
        _wake = wake;
    }

    /// <summary>Batches created and not yet finished (open, ready, backing off or in flight).</summary>
    public long Unfinished => Interlocked.Read(ref _unfinished);

    public ICollection<string> TopicNames => _topics.Keys;

    /// <summary>The topic's state when its partitions are known.</summary>
    public bool TryGetTopic(string topic, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TopicState? state) =>
        _topics.TryGetValue(topic, out state) && state.Partitions.Length > 0;

    /// <summary>Applies metadata: grows the topic's partitions and sets their leaders.</summary>
    public TopicState Update(TopicInfo info)
    {
        TopicState state = _topics.GetOrAdd(info.Name, static name => new TopicState(name));
        state.Update(info);
        return state;
    }

    /// <summary>Applies a metadata snapshot to every known topic, and lets leaderless partitions try again.</summary>
    public void Update(ClusterSnapshot snapshot)
    {
        foreach (TopicState state in _topics.Values)
        {
            if (snapshot.Topics.TryGetValue(state.Name, out TopicInfo? info) && info.Error == ErrorCode.None)
            {
                state.Update(info);
            }
        }
    }

    /// <summary>The record's timestamp, or now on the injected clock.</summary>
    public long Timestamp(DateTimeOffset? timestamp) => timestamp?.ToUnixTimeMilliseconds() ?? _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Appends a record whose <paramref name="charge"/> is already reserved. A batch call's target gets one
    /// waiter entry per batch its records land in.
    /// </summary>
    public void Append(TopicState topic, in ProducerRecord record, long timestamp, IDeliveryTarget target, int charge, bool batchCall)
    {
        PartitionQueue[] partitions = topic.Partitions;
        int p = ChoosePartition(topic, record, partitions.Length);
        PartitionQueue pq = partitions[p];
        bool wake = false;
        lock (pq)
        {
            if (pq.Open is null)
            {
                wake |= NewBatch(pq);
            }

            int delta = pq.Open!.TryAppend(record, timestamp, _options.BatchSize, charge);
            if (delta < 0)
            {
                CloseOpenBatch(pq);
                wake = true;
                if (record.Partition is null && record.Key is null)
                {
                    // Sticky partitioning: a full batch moves keyless records to another partition.
                    topic.Sticky = Random.Shared.Next(partitions.Length);
                }

                NewBatch(pq);
                delta = pq.Open!.TryAppend(record, timestamp, _options.BatchSize, charge);
            }

            List<Waiter> waiters = pq.Open.Waiters;
            if (!batchCall || waiters.Count == 0 || !ReferenceEquals(waiters[^1].Target, target))
            {
                if (batchCall)
                {
                    ((BatchCompletion)target).AddWaiter();
                }

                waiters.Add(new Waiter(target, delta, timestamp));
            }

            if (pq.Open.RecordBytes >= _options.BatchSize)
            {
                CloseOpenBatch(pq);
                wake = true;
            }
        }

        if (wake || _options.Linger == TimeSpan.Zero)
        {
            _wake();
        }
    }

    /// <summary>Opens a batch; true when the linger list was empty (the sender must learn the new deadline).</summary>
    private bool NewBatch(PartitionQueue pq)
    {
        DateTimeOffset now = _time.GetUtcNow();
        ProducerBatch batch = ProducerBatch.Rent(pq.Partition, _options.CompressionType, now);
        Interlocked.Increment(ref _unfinished);
        pq.Tail = batch;
        pq.Open = batch;
        pq.OpenGeneration++;
        lock (_listLock)
        {
            _lingering.Enqueue((pq, pq.OpenGeneration, now + _options.Linger));
            return _lingering.Count == 1;
        }
    }

    /// <summary>Moves the open batch to the ready queue. Caller holds the queue's lock.</summary>
    private void CloseOpenBatch(PartitionQueue pq)
    {
        if (pq.Open is { } open)
        {
            pq.Ready.Enqueue(open);
            pq.Open = null;
            List(pq);
        }
    }

    /// <summary>Puts the queue on the ready list unless it is there already. Caller holds the queue's lock.</summary>
    private void List(PartitionQueue pq)
    {
        lock (_listLock)
        {
            if (!pq.Listed)
            {
                pq.Listed = true;
                _ready.Enqueue(pq);
            }
        }
    }

    private static int ChoosePartition(TopicState topic, in ProducerRecord record, int count)
    {
        if (record.Partition is { } explicitPartition)
        {
            return explicitPartition >= 0 && explicitPartition < count
                ? explicitPartition
                : throw new ProduceException(ErrorCode.UnknownTopicOrPartition, $"Topic '{topic.Name}' has no partition {explicitPartition}.", new TopicPartition(topic.Name, explicitPartition));
        }

        if (record.Key is { } key)
        {
            return Murmur2Partitioner.Partition(key.Span, count);
        }

        int sticky = topic.Sticky;
        return sticky < count ? sticky : 0;
    }

    /// <summary>Closes every open batch and makes <paramref name="flush"/> wait for each partition's newest batch.</summary>
    public void Flush(BatchCompletion flush)
    {
        foreach (TopicState topic in _topics.Values)
        {
            foreach (PartitionQueue pq in topic.Partitions)
            {
                lock (pq)
                {
                    CloseOpenBatch(pq);
                    if (pq.Tail is { } tail)
                    {
                        flush.AddWaiter();
                        tail.Waiters.Add(new Waiter(FlushTarget.For(flush), 0, 0));
                    }
                }
            }
        }
    }

    /// <summary>
    /// Takes the batches that can be sent at <paramref name="now"/> into <paramref name="byNode"/> (one per
    /// partition, marked in flight) and returns how long the sender may sleep before something is due.
    /// <paramref name="closing"/> closes every open batch at once. Batches past the delivery timeout fail here.
    /// </summary>
    public TimeSpan Drain(DateTimeOffset now, bool closing, Dictionary<int, List<(PartitionQueue Queue, ProducerBatch Batch)>> byNode, out bool needMetadata, TimeSpan maxWait)
    {
        TimeSpan wait = maxWait;
        needMetadata = false;
        _expired.Clear();
        _candidates.Clear();
        lock (_listLock)
        {
            while (_lingering.TryPeek(out (PartitionQueue Queue, long Generation, DateTimeOffset Due) entry))
            {
                if (entry.Due > now && !closing)
                {
                    wait = Min(wait, entry.Due - now);
                    break;
                }

                _lingering.Dequeue();
                _expired.Add((entry.Queue, entry.Generation));
            }
        }

        foreach ((PartitionQueue pq, long generation) in _expired)
        {
            lock (pq)
            {
                // A stale entry names a batch that closed when full; its successor has an entry of its own.
                if (pq.Open is not null && pq.OpenGeneration == generation)
                {
                    CloseOpenBatch(pq);
                }
            }
        }

        _expired.Clear();
        lock (_listLock)
        {
            while (_ready.TryDequeue(out PartitionQueue? pq))
            {
                pq.Listed = false;
                _candidates.Add(pq);
            }

            for (int i = _backingOff.Count - 1; i >= 0; i--)
            {
                (PartitionQueue pq, DateTimeOffset due) = _backingOff[i];
                if (due <= now)
                {
                    pq.BackingOff = false;
                    _candidates.Add(pq);
                    _backingOff.RemoveAt(i);
                }
                else
                {
                    wait = Min(wait, due - now);
                }
            }

            foreach (PartitionQueue pq in _leaderless)
            {
                pq.Leaderless = false;
                _candidates.Add(pq);
            }

            _leaderless.Clear();
        }

        foreach (PartitionQueue pq in _candidates)
        {
            ProducerBatch? toSend = null;
            lock (pq)
            {
                while (!pq.InFlight && pq.Ready.TryPeek(out ProducerBatch? next))
                {
                    if (next.NotBefore > now)
                    {
                        wait = Min(wait, next.NotBefore - now);
                        BackOff(pq, next.NotBefore);
                    }
                    else if (now - next.CreatedAt > _options.DeliveryTimeout)
                    {
                        pq.Ready.Dequeue();
                        Finish(pq, next, -1, ProduceErrors.TimedOut(pq.Partition, _options.DeliveryTimeout));
                        continue;
                    }
                    else if (pq.Leader < 0)
                    {
                        needMetadata = true;
                        Leaderless(pq);
                    }
                    else
                    {
                        toSend = pq.Ready.Dequeue();
                        pq.InFlight = true;
                    }

                    break;
                }
            }

            if (toSend is not null)
            {
                int leader = pq.Leader;
                if (!byNode.TryGetValue(leader, out List<(PartitionQueue, ProducerBatch)>? list))
                {
                    byNode[leader] = list = [];
                }

                list.Add((pq, toSend));
            }
        }

        _candidates.Clear();
        return wait;
    }

    private void BackOff(PartitionQueue pq, DateTimeOffset due)
    {
        lock (_listLock)
        {
            if (!pq.BackingOff)
            {
                pq.BackingOff = true;
                _backingOff.Add((pq, due));
            }
        }
    }

    private void Leaderless(PartitionQueue pq)
    {
        lock (_listLock)
        {
            if (!pq.Leaderless)
            {
                pq.Leaderless = true;
                _leaderless.Add(pq);
            }
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>
    /// Applies a batch's result: success finishes it; a lost sequence or a retriable error (before the
    /// delivery timeout) puts it back in front after <see cref="ClientOptions.RetryBackoff"/>; anything else
    /// fails it.
    /// </summary>
    public BatchOutcome Complete(PartitionQueue pq, ProducerBatch batch, ErrorCode error, long baseOffset, string? message, bool stopping)
    {
        lock (pq)
        {
            pq.InFlight = false;
            if (error is ErrorCode.None or ErrorCode.DuplicateSequenceNumber)
            {
                Finish(pq, batch, baseOffset, null);
                RelistIfReady(pq);
                return BatchOutcome.Delivered;
            }

            DateTimeOffset now = _time.GetUtcNow();
            bool expired = now - batch.CreatedAt > _options.DeliveryTimeout || stopping;
            if (_producerId.Enabled && error is ErrorCode.OutOfOrderSequenceNumber or ErrorCode.UnknownProducerId or ErrorCode.InvalidProducerEpoch && !expired)
            {
                // The broker lost or rejected the sequence (an earlier batch failed for good): start over with
                // a new producer id; this batch is renumbered when it is sent again.
                _producerId.MarkStale();
                batch.SetProducer(-1, -1, -1);
                Retry(pq, batch, now);
                return BatchOutcome.Retried;
            }

            if (error.IsRetriable() && !expired)
            {
                Retry(pq, batch, now);
                return error is ErrorCode.NotLeaderOrFollower or ErrorCode.LeaderNotAvailable or ErrorCode.UnknownTopicOrPartition or ErrorCode.NetworkException
                    ? BatchOutcome.RetriedAfterMetadata
                    : BatchOutcome.Retried;
            }

            KafkaException failure = expired && error.IsRetriable()
                ? ProduceErrors.TimedOut(pq.Partition, _options.DeliveryTimeout)
                : new ProduceException(error, $"Producing to {pq.Partition} failed: {error}{(string.IsNullOrEmpty(message) ? "" : " (" + message + ")")}.", pq.Partition);
            Finish(pq, batch, -1, failure);
            RelistIfReady(pq);
            return BatchOutcome.Failed;
        }
    }

    /// <summary>Fails a batch taken by <see cref="Drain"/> that could not be sent (too large, encoding failed).</summary>
    public void Fail(PartitionQueue pq, ProducerBatch batch, KafkaException error)
    {
        lock (pq)
        {
            pq.InFlight = false;
            Finish(pq, batch, -1, error);
            RelistIfReady(pq);
        }
    }

    private void RelistIfReady(PartitionQueue pq)
    {
        if (!pq.Ready.IsEmpty)
        {
            List(pq);
        }
    }

    private void Retry(PartitionQueue pq, ProducerBatch batch, DateTimeOffset now)
    {
        batch.NotBefore = now + _options.RetryBackoff;
        pq.Ready.AddFirst(batch);
        BackOff(pq, batch.NotBefore);
    }

    /// <summary>Completes a batch's waiters, frees its memory and returns it to the pool. Caller holds the queue's lock.</summary>
    private void Finish(PartitionQueue pq, ProducerBatch batch, long baseOffset, KafkaException? error)
    {
        if (ReferenceEquals(pq.Tail, batch))
        {
            pq.Tail = null;
        }

        int bytes = batch.BufferedBytes;
        batch.Complete(baseOffset, error);
        batch.Return();
        _memory.Release(bytes);
        Interlocked.Decrement(ref _unfinished);
    }

    /// <summary>A new producer id: every partition's sequence starts again at 0.</summary>
    public void ResetSequences()
    {
        foreach (TopicState topic in _topics.Values)
        {
            foreach (PartitionQueue pq in topic.Partitions)
            {
                lock (pq)
                {
                    pq.NextSequence = 0;
                }
            }
        }
    }

    /// <summary>Fails every batch not in flight (the producer is disposed).</summary>
    public void FailEverything(KafkaException error)
    {
        foreach (TopicState topic in _topics.Values)
        {
            foreach (PartitionQueue pq in topic.Partitions)
            {
                lock (pq)
                {
                    CloseOpenBatch(pq);
                    while (pq.Ready.TryDequeue(out ProducerBatch? batch))
                    {
                        Finish(pq, batch, -1, error);
                    }
                }
            }
        }
    }

    /// <summary>Flush waits for batches to finish, whatever their outcome.</summary>
    private sealed class FlushTarget(BatchCompletion flush) : IDeliveryTarget
    {
        public static FlushTarget For(BatchCompletion flush) => new(flush);

        public void Delivered(TopicPartition partition, long offset, long timestamp) => flush.Delivered(partition, offset, timestamp);

        public void Failed(KafkaException error) => flush.Delivered(default, -1, -1);
    }
}

/// <summary>What <see cref="RecordAccumulator.Complete"/> did with a batch.</summary>
internal enum BatchOutcome
{
    /// <summary>Acknowledged; its records are delivered.</summary>
    Delivered,

    /// <summary>Failed for good.</summary>
    Failed,

    /// <summary>Back in front of its queue, sent again after the retry backoff.</summary>
    Retried,

    /// <summary>Retried, and the error says the metadata is stale (refresh it).</summary>
    RetriedAfterMetadata,
}
