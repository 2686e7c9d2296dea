using LogBroker.Client.Internal;
using LogBroker.Client.Network;
using LogBroker.Protocol;
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
/// <remarks>
/// A façade over <see cref="RecordAccumulator"/> (batches, linger, the ready list and the result policy),
/// <see cref="BufferMemory"/>, <see cref="ProducerIdState"/> and the <see cref="Sender"/> with one
/// <see cref="BrokerSink"/> per broker.
/// </remarks>
public sealed class KafkaProducer : IKafkaProducer
{
    private readonly ProducerOptions _options;
    private readonly IProducerTransport _transport;
    private readonly BufferMemory _memory;
    private readonly RecordAccumulator _accumulator;
    private readonly Sender _sender;
    private readonly BackgroundWork _work;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sendLoop;
    private volatile bool _closing;

    /// <summary>Creates the producer; it connects on first use.</summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public KafkaProducer(ProducerOptions options, ILoggerFactory? loggerFactory = null)
        : this(Validated(options), (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<KafkaProducer>(), null)
    {
    }

    /// <summary>A producer over <paramref name="transport"/> (tests pass a fake one); null: the cluster.</summary>
    internal KafkaProducer(ProducerOptions options, ILogger logger, IProducerTransport? transport)
    {
        options.Validate();
        _options = options;
        _transport = transport ?? new ClusterProducerTransport(new Cluster(options, logger), options.AllowAutoCreateTopics);
        _memory = new BufferMemory(options.BufferMemory);
        var producerId = new ProducerIdState(options.EnableIdempotence);
        _work = new BackgroundWork(logger);
        Sender? sender = null;
        _accumulator = new RecordAccumulator(options, _memory, producerId, options.TimeProvider, () => sender!.Wake());
        _sender = sender = new Sender(options, _accumulator, producerId, _transport, logger, _work);
        _sendLoop = Task.Run(() => _sender.RunAsync(() => _closing, _stop.Token));
    }

    private static ProducerOptions Validated(ProducerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options;
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
    public long BufferedBytes => _memory.Used;

    /// <summary>
    /// Produces one record; the task completes when the broker acknowledged it (per
    /// <see cref="ProducerOptions.Acks"/>) or delivery failed with a <see cref="ProduceException"/>.
    /// Waits for buffer space when <see cref="ProducerOptions.BufferMemory"/> is in use.
    /// </summary>
    /// <exception cref="ProduceException">Delivery failed, or the partition does not exist.</exception>
    /// <exception cref="ObjectDisposedException">The producer is disposed.</exception>
    public ValueTask<DeliveryResult> ProduceAsync(string topic, ProducerRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topic);
        int charge = Charge(record);
        if (_accumulator.TryGetTopic(topic, out TopicState? state) && _memory.TryReserve(charge))
        {
            RecordCompletion completion = RecordCompletion.Rent();
            ValueTask<DeliveryResult> task = completion.Task;
            Append(state, record, _accumulator.Timestamp(record.Timestamp), completion, charge, batchCall: false);
            return task;
        }

        return ProduceSlowAsync(topic, record, charge, cancellationToken);
    }

    private async ValueTask<DeliveryResult> ProduceSlowAsync(string topic, ProducerRecord record, int charge, CancellationToken cancellationToken)
    {
        TopicState state = await TopicAsync(topic, cancellationToken).ConfigureAwait(false);
        await _memory.ReserveAsync(charge, cancellationToken).ConfigureAwait(false);
        RecordCompletion completion = RecordCompletion.Rent();
        ValueTask<DeliveryResult> task = completion.Task;
        Append(state, record, _accumulator.Timestamp(record.Timestamp), completion, charge, batchCall: false);
        return await task.ConfigureAwait(false);
    }

    /// <summary>
    /// Produces many records to one topic with a single completion: it completes when every record is
    /// acknowledged, or fails with the first <see cref="ProduceException"/>. Nothing is allocated per record.
    /// </summary>
    /// <exception cref="ProduceException">A record's delivery failed.</exception>
    /// <exception cref="ObjectDisposedException">The producer is disposed.</exception>
    public async ValueTask ProduceBatchAsync(string topic, IReadOnlyList<ProducerRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topic);
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return;
        }

        TopicState state = _accumulator.TryGetTopic(topic, out TopicState? known)
            ? known
            : await TopicAsync(topic, cancellationToken).ConfigureAwait(false);
        BatchCompletion completion = BatchCompletion.Rent();
        long now = _accumulator.Timestamp(null);
        try
        {
            for (int i = 0; i < records.Count; i++)
            {
                ProducerRecord record = records[i];
                int charge = Charge(record);
                if (!_memory.TryReserve(charge))
                {
                    await _memory.ReserveAsync(charge, cancellationToken).ConfigureAwait(false);
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
    /// <exception cref="ObjectDisposedException">The producer is disposed.</exception>
    public bool TryProduce(string topic, ProducerRecord record, Action<DeliveryResult, KafkaException?>? onDelivery = null)
    {
        ArgumentNullException.ThrowIfNull(topic);
        if (!_accumulator.TryGetTopic(topic, out TopicState? state))
        {
            _work.Run(() => TopicAsync(topic, _stop.Token), "topic metadata lookup");
            return false;
        }

        int charge = Charge(record);
        if (!_memory.TryReserve(charge))
        {
            return false;
        }

        Append(state, record, _accumulator.Timestamp(record.Timestamp), onDelivery is null ? NoTarget.Instance : new CallbackTarget(onDelivery), charge, batchCall: false);
        return true;
    }

    /// <summary>Sends every buffered record now and waits until each is acknowledged or failed.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        var flush = BatchCompletion.Rent();
        _accumulator.Flush(flush);
        flush.Seal();
        _sender.Wake();
        await flush.Task.AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private static int Charge(in ProducerRecord record) => ProducerBatch.FixedSize(record) + ProducerBatch.MaxFraming;

    private void Append(TopicState topic, in ProducerRecord record, long timestamp, IDeliveryTarget target, int charge, bool batchCall)
    {
        if (_closing)
        {
            _memory.Release(charge);
            throw new ObjectDisposedException(nameof(KafkaProducer));
        }

        try
        {
            _accumulator.Append(topic, record, timestamp, target, charge, batchCall);
        }
        catch (ProduceException)
        {
            _memory.Release(charge);
            throw;
        }
    }

    private async Task<TopicState> TopicAsync(string topic, CancellationToken cancellationToken)
    {
        TopicInfo info = await _transport.TopicAsync(topic, _options.DeliveryTimeout, cancellationToken).ConfigureAwait(false);
        if (info.PartitionCount == 0)
        {
            throw new ProduceException(ErrorCode.UnknownTopicOrPartition, $"Topic '{topic}' has no partitions.", new TopicPartition(topic, -1));
        }

        return _accumulator.Update(info);
    }

    /// <summary>Sends what is buffered (waiting up to the delivery timeout), then closes the connections.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_closing)
        {
            return;
        }

        _closing = true;
        _memory.Close();
        _sender.Wake();
        try
        {
            await _sendLoop.WaitAsync(_options.DeliveryTimeout, _options.TimeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _sender.Wake();
        await _sendLoop.ConfigureAwait(false);
        await _work.DrainAsync().ConfigureAwait(false);
        _accumulator.FailEverything(new KafkaException(ErrorCode.NetworkException, "The producer was disposed before the record was delivered."));
        await _transport.DisposeAsync().ConfigureAwait(false);
        _memory.Dispose();
        _stop.Dispose();
    }
}
