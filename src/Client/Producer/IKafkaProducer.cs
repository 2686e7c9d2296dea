namespace LogBroker.Client.Producer;

/// <summary>
/// A producer (implemented by <see cref="KafkaProducer"/>); depend on this to fake the producer in tests.
/// </summary>
public interface IKafkaProducer : IAsyncDisposable
{
    /// <summary>The producer's settings.</summary>
    ProducerOptions Options { get; }

    /// <summary>Bytes of records produced and not yet acknowledged.</summary>
    long BufferedBytes { get; }

    /// <summary>Produces one record; completes when it is acknowledged or fails with a <see cref="ProduceException"/>.</summary>
    /// <param name="topic">The topic.</param>
    /// <param name="record">The record.</param>
    /// <param name="cancellationToken">Cancels the wait for buffer space or metadata.</param>
    ValueTask<DeliveryResult> ProduceAsync(string topic, ProducerRecord record, CancellationToken cancellationToken = default);

    /// <summary>Produces many records to one topic with a single completion.</summary>
    /// <param name="topic">The topic.</param>
    /// <param name="records">The records.</param>
    /// <param name="cancellationToken">Cancels the wait for buffer space or metadata.</param>
    ValueTask ProduceBatchAsync(string topic, IReadOnlyList<ProducerRecord> records, CancellationToken cancellationToken = default);

    /// <summary>Produces one record without waiting; false when the buffer is full or the topic is not known yet.</summary>
    /// <param name="topic">The topic.</param>
    /// <param name="record">The record.</param>
    /// <param name="onDelivery">Runs with the result or the error (optional).</param>
    bool TryProduce(string topic, ProducerRecord record, Action<DeliveryResult, KafkaException?>? onDelivery = null);

    /// <summary>Sends every buffered record now and waits until each is acknowledged or failed.</summary>
    /// <param name="cancellationToken">Cancels the wait (not the sending).</param>
    Task FlushAsync(CancellationToken cancellationToken = default);
}
