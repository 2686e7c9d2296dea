using Confluent.Kafka;

/// <summary>
/// The Confluent.Kafka send loop the scenarios share: one message sent <c>count</c> times as fast as the producer
/// takes it (a full queue is waited out with a short poll, at most a million times per message), then a flush that
/// throws when any delivery failed.
/// </summary>
internal sealed class ConfluentSender
{
    private readonly IProducer<Null, byte[]> _producer;
    private readonly Action<DeliveryReport<Null, byte[]>> _onDelivery;
    private long _failed;

    public ConfluentSender(IProducer<Null, byte[]> producer)
    {
        _producer = producer;
        _onDelivery = r =>
        {
            if (r.Error.IsError)
            {
                Interlocked.Increment(ref _failed);
            }
        };
    }

    /// <summary>The throughput settings the scenarios produce with (1 MiB batches, a 256 MiB queue, no compression).</summary>
    public static ProducerConfig ThroughputConfig(string bootstrap, Acks acks, int lingerMs) => new()
    {
        BootstrapServers = bootstrap,
        Acks = acks,
        LingerMs = lingerMs,
        BatchSize = 1024 * 1024,
        QueueBufferingMaxKbytes = 256 * 1024,
        QueueBufferingMaxMessages = 2_000_000,
        CompressionType = CompressionType.None,
    };

    /// <summary>
    /// The consumer settings the scenarios read back with: large fetches, and librdkafka's fetch pause lifted
    /// (it pauses for fetch.queue.backoff.ms, default 1 s, once more than queued.min.messages, default 100,000, wait
    /// in its queue): issue 15's consumer settings, queued.min.messages 1,000,000 and fetch.queue.backoff.ms 0.
    /// </summary>
    public static ConsumerConfig ThroughputConsumerConfig(string bootstrap, string group) => new()
    {
        BootstrapServers = bootstrap,
        GroupId = group,
        EnableAutoCommit = false,
        FetchMaxBytes = 64 * 1024 * 1024,
        MaxPartitionFetchBytes = 16 * 1024 * 1024,
        QueuedMaxMessagesKbytes = 512 * 1024,
        QueuedMinMessages = 1_000_000,
        FetchQueueBackoffMs = 0,
    };

    public void Send(string topic, Message<Null, byte[]> message, int count) => Send(new TopicPartition(topic, Partition.Any), message, count);

    /// <summary>Sends to one partition (or, with <see cref="Partition.Any"/>, where the partitioner says).</summary>
    public void Send(TopicPartition target, Message<Null, byte[]> message, int count)
    {
        for (int i = 0; i < count; i++)
        {
            for (int attempt = 0; attempt < 1_000_000; attempt++)
            {
                try
                {
                    _producer.Produce(target, message, _onDelivery);
                    break;
                }
                catch (ProduceException<Null, byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                {
                    _producer.Poll(TimeSpan.FromMilliseconds(1));
                }
            }
        }
    }

    /// <summary>Waits for every delivery (at most <paramref name="timeout"/>); throws when some are missing or failed.</summary>
    public void FlushOrThrow(TimeSpan timeout)
    {
        if (_producer.Flush(timeout) != 0 || Interlocked.Read(ref _failed) != 0)
        {
            throw new InvalidOperationException($"{Interlocked.Read(ref _failed)} deliveries failed");
        }
    }

    /// <summary>Reads <paramref name="count"/> records (at most five minutes); returns their value bytes, or throws when fewer came.</summary>
    public static long ReadOrThrow(IConsumer<Ignore, byte[]> consumer, int count)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long bytes = 0;
        int seen = 0;
        while (seen < count && clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            if (consumer.Consume(TimeSpan.FromSeconds(1)) is { IsPartitionEOF: false } r)
            {
                seen++;
                bytes += r.Message.Value.Length;
            }
        }

        if (seen != count)
        {
            throw new InvalidOperationException($"consumed {seen} of {count}");
        }

        return bytes;
    }
}
