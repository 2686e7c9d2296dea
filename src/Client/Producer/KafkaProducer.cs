using System.Collections.Concurrent;
using LogBroker.Client.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Client.Producer;

/// <summary>
/// A batching producer. Records are encoded into a per-partition batch as they are produced; a batch is
/// sent when it reaches <see cref="ProducerOptions.BatchSize"/> or has waited
/// <see cref="ProducerOptions.Linger"/>. With idempotence (the default) each partition has at most one
/// batch in flight and a retried batch keeps its sequence numbers, so a retry never duplicates or reorders.
/// Thread-safe.
/// </summary>
public sealed partial class KafkaProducer : IAsyncDisposable
{
    private readonly ProducerOptions _options;
    private readonly Cluster _cluster;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, TopicState> _topics = new(StringComparer.Ordinal);
    private readonly WakeSignal _wake = new();
    private readonly SemaphoreSlim _memoryFreed = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sender;
    private long _bufferedBytes;
    private int _memoryWaiters;
    private long _producerId = -1;
    private short _producerEpoch = -1;
    private volatile bool _producerIdStale = true;
    private volatile bool _closing;
    private int _inFlightRequests;

    /// <summary>Creates the producer; it connects on first use.</summary>
    public KafkaProducer(ProducerOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<KafkaProducer>();
        _cluster = new Cluster(options, _logger);
        _sender = Task.Run(SendLoopAsync);
    }

    /// <summary>The producer's settings.</summary>
    public ProducerOptions Options => _options;

    /// <summary>The partition a keyed record goes to among <paramref name="partitionCount"/> (murmur2, as the Java client).</summary>
    public static int PartitionForKey(ReadOnlySpan<byte> key, int partitionCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        return Murmur2Partitioner.Partition(key, partitionCount);
    }

    /// <summary>Bytes of records produced and not yet acknowledged.</summary>
    public long BufferedBytes => Interlocked.Read(ref _bufferedBytes);

    /// <summary>
    /// Produces one record; the task completes when the broker acknowledged it (per
    /// <see cref="ProducerOptions.Acks"/>) or delivery failed with a <see cref="ProduceException"/>.
    /// Waits for buffer space when <see cref="ProducerOptions.BufferMemory"/> is in use.
    /// </summary>
    public ValueTask<DeliveryResult> ProduceAsync(string topic, ProducerRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topic);
        int charge = Charge(record);
        if (_topics.TryGetValue(topic, out TopicState? state) && state.Partitions.Length > 0 && TryReserve(charge))
        {
            RecordCompletion completion = RecordCompletion.Rent();
            ValueTask<DeliveryResult> task = completion.Task;
            Append(state, record, Now(record.Timestamp), completion, charge, batchCall: false);
            return task;
        }

        return ProduceSlowAsync(topic, record, charge, cancellationToken);
    }

    private async ValueTask<DeliveryResult> ProduceSlowAsync(string topic, ProducerRecord record, int charge, CancellationToken cancellationToken)
    {
        TopicState state = await TopicAsync(topic, cancellationToken).ConfigureAwait(false);
        await ReserveAsync(charge, cancellationToken).ConfigureAwait(false);
        RecordCompletion completion = RecordCompletion.Rent();
        ValueTask<DeliveryResult> task = completion.Task;
        Append(state, record, Now(record.Timestamp), completion, charge, batchCall: false);
        return await task.ConfigureAwait(false);
    }

    /// <summary>
    /// Produces many records to one topic with a single completion: it completes when every record is
    /// acknowledged, or fails with the first <see cref="ProduceException"/>. Nothing is allocated per record.
    /// </summary>
    public async ValueTask ProduceBatchAsync(string topic, IReadOnlyList<ProducerRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topic);
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return;
        }

        TopicState state = _topics.TryGetValue(topic, out TopicState? known) && known.Partitions.Length > 0
            ? known
            : await TopicAsync(topic, cancellationToken).ConfigureAwait(false);
        BatchCompletion completion = BatchCompletion.Rent();
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        try
        {
            for (int i = 0; i < records.Count; i++)
            {
                ProducerRecord record = records[i];
                int charge = Charge(record);
                if (!TryReserve(charge))
                {
                    await ReserveAsync(charge, cancellationToken).ConfigureAwait(false);
                }

                Append(state, record, record.Timestamp?.ToUnixTimeMilliseconds() ?? now, completion, charge, batchCall: true);
            }
        }
        finally
        {
            completion.Seal();
        }

        await completion.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// Produces one record without waiting: false when the buffer is full or the topic's metadata is not
    /// known yet (it is then fetched, so a later call can succeed). <paramref name="onDelivery"/> (optional)
    /// runs on a pool thread with the result or the error.
    /// </summary>
    public bool TryProduce(string topic, ProducerRecord record, Action<DeliveryResult, KafkaException?>? onDelivery = null)
    {
        ArgumentNullException.ThrowIfNull(topic);
        if (!_topics.TryGetValue(topic, out TopicState? state) || state.Partitions.Length == 0)
        {
            _ = TopicAsync(topic, _stop.Token).ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return false;
        }

        int charge = Charge(record);
        if (!TryReserve(charge))
        {
            return false;
        }

        Append(state, record, Now(record.Timestamp), onDelivery is null ? NoTarget.Instance : new CallbackTarget(onDelivery), charge, batchCall: false);
        return true;
    }

    /// <summary>Sends every buffered record now and waits until each is acknowledged or failed.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        var flush = BatchCompletion.Rent();
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

        flush.Seal();
        Wake();
        await flush.Task.AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private static long Now(DateTimeOffset? timestamp) => timestamp?.ToUnixTimeMilliseconds() ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private static int Charge(in ProducerRecord record) => ProducerBatch.FixedSize(record) + ProducerBatch.MaxFraming;

    private void Append(TopicState topic, in ProducerRecord record, long timestamp, IDeliveryTarget target, int charge, bool batchCall)
    {
        if (_closing)
        {
            Release(charge);
            throw new ObjectDisposedException(nameof(KafkaProducer));
        }

        PartitionQueue[] partitions = topic.Partitions;
        int p = ChoosePartition(topic, record, partitions.Length);
        PartitionQueue pq = partitions[p];
        bool wake = false;
        lock (pq)
        {
            pq.Open ??= NewBatch(pq);
            int delta = pq.Open.TryAppend(record, timestamp, _options.BatchSize, charge);
            if (delta < 0)
            {
                CloseOpenBatch(pq);
                wake = true;
                if (record.Partition is null && record.Key is null)
                {
                    // Sticky partitioning: a full batch moves keyless records to another partition.
                    topic.Sticky = Random.Shared.Next(partitions.Length);
                }

                pq.Open = NewBatch(pq);
                delta = pq.Open.TryAppend(record, timestamp, _options.BatchSize, charge);
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
            Wake();
        }
    }

    private ProducerBatch NewBatch(PartitionQueue pq)
    {
        ProducerBatch batch = ProducerBatch.Rent(pq.Partition, _options.CompressionType);
        pq.Tail = batch;
        return batch;
    }

    private static void CloseOpenBatch(PartitionQueue pq)
    {
        if (pq.Open is { } open)
        {
            pq.Ready.Enqueue(open);
            pq.Open = null;
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

    private bool TryReserve(int bytes)
    {
        while (true)
        {
            long current = Interlocked.Read(ref _bufferedBytes);
            if (current > 0 && current + bytes > _options.BufferMemory)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _bufferedBytes, current + bytes, current) == current)
            {
                return true;
            }
        }
    }

    private async ValueTask ReserveAsync(int bytes, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _memoryWaiters);
        try
        {
            while (!TryReserve(bytes))
            {
                ObjectDisposedException.ThrowIf(_closing, this);
                await _memoryFreed.WaitAsync(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _memoryWaiters);
        }
    }

    private void Release(long bytes)
    {
        Interlocked.Add(ref _bufferedBytes, -bytes);
        // Wake each waiter once; releasing more would leave permits that turn later waits into spins.
        int missing = Volatile.Read(ref _memoryWaiters) - _memoryFreed.CurrentCount;
        if (missing > 0)
        {
            _memoryFreed.Release(missing);
        }
    }

    private async Task<TopicState> TopicAsync(string topic, CancellationToken cancellationToken)
    {
        TopicInfo info = await _cluster.RetryAsync(
            ct => _cluster.TopicAsync(topic, _options.AllowAutoCreateTopics, ct), _options.DeliveryTimeout, cancellationToken).ConfigureAwait(false);
        if (info.PartitionCount == 0)
        {
            throw new ProduceException(ErrorCode.UnknownTopicOrPartition, $"Topic '{topic}' has no partitions.", new TopicPartition(topic, -1));
        }

        TopicState state = _topics.GetOrAdd(topic, static name => new TopicState(name));
        state.Update(info);
        return state;
    }

    private void Wake() => _wake.Set();

    private async Task SendLoopAsync()
    {
        while (true)
        {
            try
            {
                await SendLoopCoreAsync().ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException && !_stop.IsCancellationRequested)
            {
                // A bug must not strand every buffered record: log it and carry on.
                LogSenderFailed(_logger, e);
                await Task.Delay(_options.RetryBackoff).ConfigureAwait(false);
            }
        }
    }

    private async Task SendLoopCoreAsync()
    {
        var byNode = new Dictionary<int, List<(PartitionQueue Queue, ProducerBatch Batch)>>();
        DateTime lastMetadata = DateTime.UtcNow;
        while (true)
        {
            DateTime now = DateTime.UtcNow;
            TimeSpan wait = TimeSpan.FromMilliseconds(100);
            bool needMetadata = now - lastMetadata > _options.MetadataMaxAge;
            bool closing = _closing;
            bool idle = true;
            foreach (TopicState topic in _topics.Values)
            {
                foreach (PartitionQueue pq in topic.Partitions)
                {
                    ProducerBatch? toSend = null;
                    lock (pq)
                    {
                        if (pq.Open is { } open)
                        {
                            idle = false;
                            TimeSpan age = now - open.CreatedAt;
                            if (age >= _options.Linger || closing)
                            {
                                CloseOpenBatch(pq);
                            }
                            else
                            {
                                wait = Min(wait, _options.Linger - age);
                            }
                        }

                        if (pq.InFlight || pq.Tail is not null)
                        {
                            idle = false;
                        }

                        if (!pq.InFlight && pq.Ready.TryPeek(out ProducerBatch? next))
                        {
                            if (next.NotBefore > now)
                            {
                                wait = Min(wait, next.NotBefore - now);
                            }
                            else if (now - next.CreatedAt > _options.DeliveryTimeout)
                            {
                                pq.Ready.Dequeue();
                                Finish(pq, next, -1, ProduceErrors.TimedOut(pq.Partition, _options.DeliveryTimeout));
                            }
                            else if (pq.Leader < 0)
                            {
                                needMetadata = true;
                            }
                            else
                            {
                                toSend = pq.Ready.Dequeue();
                                pq.InFlight = true;
                            }
                        }
                    }

                    if (toSend is not null)
                    {
                        if (!byNode.TryGetValue(pq.Leader, out List<(PartitionQueue, ProducerBatch)>? list))
                        {
                            byNode[pq.Leader] = list = [];
                        }

                        list.Add((pq, toSend));
                    }
                }
            }

            if (byNode.Count > 0)
            {
                if (_options.EnableIdempotence && _producerIdStale)
                {
                    await EnsureProducerIdAsync().ConfigureAwait(false);
                }

                foreach (KeyValuePair<int, List<(PartitionQueue, ProducerBatch)>> kv in byNode)
                {
                    StartRequests(kv.Key, kv.Value);
                }

                byNode.Clear();
            }

            if (needMetadata)
            {
                lastMetadata = DateTime.UtcNow;
                _ = RefreshMetadataAsync();
            }

            if (closing && idle && Volatile.Read(ref _inFlightRequests) == 0)
            {
                return;
            }

            if (_stop.IsCancellationRequested)
            {
                FailEverything(new KafkaException(ErrorCode.NetworkException, "The producer was disposed before the record was delivered."));
                return;
            }

            try
            {
                await _wake.WaitAsync(wait, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Disposed: the loop sees the stop at its next turn.
            }
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private async Task RefreshMetadataAsync()
    {
        try
        {
            var names = new List<string>(_topics.Keys);
            ClusterSnapshot snapshot = await _cluster.RefreshAsync(names, _options.AllowAutoCreateTopics, _stop.Token).ConfigureAwait(false);
            foreach (TopicState state in _topics.Values)
            {
                if (snapshot.Topics.TryGetValue(state.Name, out TopicInfo? info) && info.Error == ErrorCode.None)
                {
                    state.Update(info);
                }
            }

            Wake();
        }
        catch (Exception e) when (e is KafkaException or OperationCanceledException)
        {
            LogMetadataFailed(_logger, e.Message);
        }
    }

    private async Task EnsureProducerIdAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                InitProducerIdResponse r = await _cluster.SendAsync<InitProducerIdResponse>(-1, ApiKey.InitProducerId,
                    _ => new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = int.MaxValue, ProducerId = -1, ProducerEpoch = -1 },
                    _stop.Token).ConfigureAwait(false);
                if (r.ErrorCode == 0)
                {
                    _producerId = r.ProducerId;
                    _producerEpoch = r.ProducerEpoch;
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

                    _producerIdStale = false;
                    return;
                }

                LogProducerIdFailed(_logger, ((ErrorCode)r.ErrorCode).ToString());
            }
            catch (KafkaException e)
            {
                LogProducerIdFailed(_logger, e.Message);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await Task.Delay(_options.RetryBackoff, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void StartRequests(int node, List<(PartitionQueue Queue, ProducerBatch Batch)> batches)
    {
        var current = new List<(PartitionQueue, ProducerBatch)>();
        long size = 0;
        foreach ((PartitionQueue pq, ProducerBatch batch) in batches)
        {
            if (!batch.IsSealed)
            {
                try
                {
                    batch.Seal(_options.CompressionLevel);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    lock (pq)
                    {
                        pq.InFlight = false;
                        Finish(pq, batch, -1, new ProduceException(ErrorCode.UnknownServerError, $"Encoding a batch for {pq.Partition} failed: {e.Message}", pq.Partition, e));
                    }

                    continue;
                }
            }

            if (_options.EnableIdempotence && !batch.HasSequence)
            {
                int sequence;
                lock (pq)
                {
                    sequence = pq.NextSequence;
                    pq.NextSequence = (int)((pq.NextSequence + (long)batch.Count) % ((long)int.MaxValue + 1));
                }

                batch.SetProducer(_producerId, _producerEpoch, sequence);
            }

            if (batch.Bytes.Length > _options.MessageMaxBytes)
            {
                lock (pq)
                {
                    pq.InFlight = false;
                    Finish(pq, batch, -1, new ProduceException(ErrorCode.MessageTooLarge,
                        $"A batch of {batch.Bytes.Length} bytes for {pq.Partition} exceeds MessageMaxBytes ({_options.MessageMaxBytes}).", pq.Partition));
                }

                continue;
            }

            if (current.Count > 0 && size + batch.Bytes.Length > _options.MaxRequestSize)
            {
                _ = SendRequestAsync(node, current);
                current = [];
                size = 0;
            }

            current.Add((pq, batch));
            size += batch.Bytes.Length;
        }

        if (current.Count > 0)
        {
            _ = SendRequestAsync(node, current);
        }
    }

    private async Task SendRequestAsync(int node, List<(PartitionQueue Queue, ProducerBatch Batch)> batches)
    {
        Interlocked.Increment(ref _inFlightRequests);
        try
        {
            var request = new ProduceRequest
            {
                Acks = (short)_options.Acks,
                TimeoutMs = (int)Math.Min(int.MaxValue, _options.RequestTimeout.TotalMilliseconds),
                TransactionalId = null,
            };
            var byTopic = new Dictionary<string, ProduceRequest.TopicProduceData>(StringComparer.Ordinal);
            foreach ((PartitionQueue pq, ProducerBatch batch) in batches)
            {
                batch.Attempts++;
                if (!byTopic.TryGetValue(pq.Partition.Topic, out ProduceRequest.TopicProduceData? t))
                {
                    byTopic[pq.Partition.Topic] = t = new ProduceRequest.TopicProduceData { Name = pq.Partition.Topic };
                    request.TopicData.Add(t);
                }

                t.PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = pq.Partition.Partition, Records = batch.Bytes });
            }

            ProduceResponse? response = null;
            KafkaException? failure = null;
            try
            {
                BrokerConnection connection = await _cluster.ConnectionAsync(node, _stop.Token).ConfigureAwait(false);
                short version = connection.RequireVersion(ApiKey.Produce);
                if (_options.Acks == Acks.None)
                {
                    await connection.SendOneWayAsync(ApiKey.Produce, version, request, _stop.Token).ConfigureAwait(false);
                }
                else
                {
                    response = await connection.SendAsync<ProduceResponse>(ApiKey.Produce, version, request, _stop.Token).ConfigureAwait(false);
                }
            }
            catch (KafkaException e)
            {
                failure = e;
            }
            catch (OperationCanceledException)
            {
                failure = new KafkaException(ErrorCode.NetworkException, "The producer was disposed before the record was delivered.");
            }

            foreach ((PartitionQueue pq, ProducerBatch batch) in batches)
            {
                short error = (short)(failure?.ErrorCode ?? ErrorCode.None);
                long baseOffset = -1;
                string? message = failure?.Message;
                if (response is not null)
                {
                    error = (short)ErrorCode.UnknownServerError;
                    message = "The broker's response did not cover the partition.";
                    foreach (ProduceResponse.TopicProduceResponse t in response.Responses)
                    {
                        if (t.Name != pq.Partition.Topic)
                        {
                            continue;
                        }

                        foreach (ProduceResponse.PartitionProduceResponse p in t.PartitionResponses)
                        {
                            if (p.Index == pq.Partition.Partition)
                            {
                                error = p.ErrorCode;
                                baseOffset = p.BaseOffset;
                                message = p.ErrorMessage;
                            }
                        }
                    }
                }

                HandleResult(pq, batch, (ErrorCode)error, baseOffset, message);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inFlightRequests);
            Wake();
        }
    }

    private void HandleResult(PartitionQueue pq, ProducerBatch batch, ErrorCode error, long baseOffset, string? message)
    {
        lock (pq)
        {
            pq.InFlight = false;
            if (error is ErrorCode.None or ErrorCode.DuplicateSequenceNumber)
            {
                Finish(pq, batch, baseOffset, null);
                return;
            }

            bool expired = DateTime.UtcNow - batch.CreatedAt > _options.DeliveryTimeout || _stop.IsCancellationRequested;
            if (_options.EnableIdempotence && error is ErrorCode.OutOfOrderSequenceNumber or ErrorCode.UnknownProducerId or ErrorCode.InvalidProducerEpoch && !expired)
            {
                // The broker lost or rejected the sequence (an earlier batch failed for good): start over with
                // a new producer id; this batch is renumbered when it is sent again.
                _producerIdStale = true;
                batch.SetProducer(-1, -1, -1);
                Retry(pq, batch);
                return;
            }

            if (error.IsRetriable() && !expired)
            {
                if (error is ErrorCode.NotLeaderOrFollower or ErrorCode.LeaderNotAvailable or ErrorCode.UnknownTopicOrPartition or ErrorCode.NetworkException)
                {
                    _cluster.Invalidate();
                    _ = RefreshMetadataAsync();
                }

                Retry(pq, batch);
                return;
            }

            KafkaException failure = expired && error.IsRetriable()
                ? ProduceErrors.TimedOut(pq.Partition, _options.DeliveryTimeout)
                : new ProduceException(error, $"Producing to {pq.Partition} failed: {error}{(string.IsNullOrEmpty(message) ? "" : " (" + message + ")")}.", pq.Partition);
            Finish(pq, batch, -1, failure);
        }
    }

    private void Retry(PartitionQueue pq, ProducerBatch batch)
    {
        batch.NotBefore = DateTime.UtcNow + _options.RetryBackoff;
        pq.Ready.AddFirst(batch);
        LogRetry(_logger, pq.Partition, batch.Attempts);
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
        Release(bytes);
    }

    private void FailEverything(KafkaException error)
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

    /// <summary>Sends what is buffered (waiting up to the delivery timeout), then closes the connections.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_closing)
        {
            return;
        }

        _closing = true;
        Wake();
        try
        {
            await _sender.WaitAsync(_options.DeliveryTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        Wake();
        try
        {
            await _sender.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await _cluster.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    [LoggerMessage(EventId = 203, Level = LogLevel.Error, Message = "The producer's send loop failed")]
    private static partial void LogSenderFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "Metadata refresh failed: {Reason}")]
    private static partial void LogMetadataFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "InitProducerId failed: {Reason}")]
    private static partial void LogProducerIdFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 202, Level = LogLevel.Debug, Message = "Retrying a batch for {Partition} (attempt {Attempt})")]
    private static partial void LogRetry(ILogger logger, TopicPartition partition, int attempt);

    private sealed class TopicState(string name)
    {
        public string Name { get; } = name;

        public PartitionQueue[] Partitions { get; private set; } = [];

        public int Sticky { get; set; } = -1;

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

    private sealed class PartitionQueue(TopicPartition partition)
    {
        public TopicPartition Partition { get; } = partition;

        public volatile int Leader = -1;

        public ProducerBatch? Open { get; set; }

        public ReadyQueue Ready { get; } = new();

        /// <summary>The newest batch not yet finished (what a flush waits for).</summary>
        public ProducerBatch? Tail { get; set; }

        public bool InFlight { get; set; }

        public int NextSequence { get; set; }
    }

    /// <summary>A FIFO of closed batches with a front slot for retries.</summary>
    private sealed class ReadyQueue
    {
        private readonly LinkedList<ProducerBatch> _list = new();

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

    /// <summary>Flush waits for batches to finish, whatever their outcome.</summary>
    private sealed class FlushTarget(BatchCompletion flush) : IDeliveryTarget
    {
        public static FlushTarget For(BatchCompletion flush) => new(flush);

        public void Delivered(TopicPartition partition, long offset, long timestamp) => flush.Delivered(partition, offset, timestamp);

        public void Failed(KafkaException error) => flush.Delivered(default, -1, -1);
    }
}
