using LogBroker.Protocol.Records;

namespace LogBroker.Client.Producer;

/// <summary>acks: how many replicas must have a batch before the broker answers.</summary>
public enum Acks : short
{
    /// <summary>acks=0: no response; a record counts as delivered once sent.</summary>
    None = 0,

    /// <summary>acks=1: the leader wrote it.</summary>
    Leader = 1,

    /// <summary>acks=all (-1): every in-sync replica has it.</summary>
    All = -1,
}

/// <summary>Settings of a <see cref="KafkaProducer"/>, named after the Kafka producer settings.</summary>
public sealed record ProducerOptions : ClientOptions
{
    /// <summary>acks. Default <see cref="Acks.All"/>.</summary>
    public Acks Acks { get; init; } = Acks.All;

    /// <summary>linger.ms: how long a partition's batch waits for more records before it is sent. Default 5 ms.</summary>
    public TimeSpan Linger { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>batch.size: the uncompressed bytes of records after which a partition's batch is sent at once. Default 1,000,000 (a full batch stays under the broker's default message.max.bytes).</summary>
    public int BatchSize { get; init; } = 1_000_000;

    /// <summary>compression.type: the codec applied to each batch. Default none.</summary>
    public CompressionType CompressionType { get; init; } = CompressionType.None;

    /// <summary>compression.level: the codec's level (-1: the codec's default).</summary>
    public int CompressionLevel { get; init; } = -1;

    /// <summary>
    /// enable.idempotence: the producer gets a producer id and numbers each partition's batches, so a
    /// retried batch is written once and order is kept. Default true. Requires <see cref="Acks.All"/>.
    /// </summary>
    public bool EnableIdempotence { get; init; } = true;

    /// <summary>buffer.memory: the bytes of records held before they are acknowledged; producing waits (or TryProduce fails) beyond it. Default 64 MiB.</summary>
    public long BufferMemory { get; init; } = 64L * 1024 * 1024;

    /// <summary>delivery.timeout.ms: the longest a record may take from produce to acknowledgement, retries included. Default 2 min.</summary>
    public TimeSpan DeliveryTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>message.max.bytes: the largest record batch sent. Default 1 MiB + 64 KiB (1,114,112 bytes).</summary>
    public int MessageMaxBytes { get; init; } = (1024 * 1024) + (64 * 1024);

    /// <summary>max.request.size: the largest produce request (batches for several partitions). Default 16 MiB.</summary>
    public int MaxRequestSize { get; init; } = 16 * 1024 * 1024;

    /// <summary>allow.auto.create.topics: ask the broker to create a topic that does not exist. Default true.</summary>
    public bool AllowAutoCreateTopics { get; init; } = true;

    internal void Validate()
    {
        ValidateCommon();
        if (EnableIdempotence && Acks != Acks.All)
        {
            throw new ArgumentException("EnableIdempotence requires Acks = All (set EnableIdempotence = false for acks 0 or 1).", nameof(EnableIdempotence));
        }

        if (BatchSize < 1 || MessageMaxBytes < 128 || MaxRequestSize < MessageMaxBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(BatchSize), "BatchSize must be positive, MessageMaxBytes at least 128 and MaxRequestSize at least MessageMaxBytes.");
        }

        if (BufferMemory < MessageMaxBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(BufferMemory), BufferMemory, "BufferMemory must hold at least one batch of MessageMaxBytes.");
        }

        if (Linger < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(Linger), Linger, "Linger cannot be negative.");
        }

        Positive(DeliveryTimeout, nameof(DeliveryTimeout));
        if (!Enum.IsDefined(CompressionType))
        {
            throw new ArgumentOutOfRangeException(nameof(CompressionType), CompressionType, "Unknown compression type.");
        }
    }
}

/// <summary>A record to produce. A null key or value is sent as null.</summary>
/// <param name="Key">The key; records with equal keys land on the same partition (murmur2, as the Java client).</param>
/// <param name="Value">The value.</param>
public readonly record struct ProducerRecord(ReadOnlyMemory<byte>? Key, ReadOnlyMemory<byte>? Value)
{
    /// <summary>
    /// A record from arrays: a null array is a null key or value (not an empty one, which is what the
    /// implicit array-to-memory conversion would make of it).
    /// </summary>
    /// <param name="key">The key, or null.</param>
    /// <param name="value">The value, or null.</param>
    public ProducerRecord(byte[]? key, byte[]? value)
        : this(key is null ? default(ReadOnlyMemory<byte>?) : key, value is null ? default(ReadOnlyMemory<byte>?) : value)
    {
    }

    /// <summary>Record headers; null for none.</summary>
    public IReadOnlyList<RecordHeader>? Headers { get; init; }

    /// <summary>The record's timestamp; null for the time it is produced.</summary>
    public DateTimeOffset? Timestamp { get; init; }

    /// <summary>An explicit partition; null to let the partitioner choose.</summary>
    public int? Partition { get; init; }
}

/// <summary>Where a record was written.</summary>
/// <param name="Partition">The topic and partition.</param>
/// <param name="Offset">The record's offset (-1 with acks=0).</param>
/// <param name="Timestamp">The record's timestamp in Unix milliseconds.</param>
public readonly record struct DeliveryResult(TopicPartition Partition, long Offset, long Timestamp);
