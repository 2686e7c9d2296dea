using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;
using System.Threading.Tasks.Sources;
using LogBroker.Client.Compression;
using LogBroker.Client.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Primitives;
using LogBroker.Protocol.Records;

namespace LogBroker.Client.Producer;

/// <summary>Something waiting for records of a batch: a single record's task or a batch call's.</summary>
internal interface IDeliveryTarget
{
    void Delivered(TopicPartition partition, long offset, long timestamp);

    void Failed(KafkaException error);
}

/// <summary>One waiter on a batch: records [OffsetDelta, OffsetDelta + Count) belong to Target.</summary>
internal readonly record struct Waiter(IDeliveryTarget Target, int OffsetDelta, long Timestamp);

/// <summary>
/// A partition's record batch v2 being filled and then sent: records are encoded straight into a pooled
/// buffer behind a reserved 61-byte header; sealing compresses (if asked) and writes the header. Pooled.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Pooled for the process's lifetime; its buffers go back to the array pool on shrink.")]
internal sealed class ProducerBatch
{
    private static readonly ConcurrentBag<ProducerBatch> Pool = [];
    private readonly PooledBufferWriter _records = new(16 * 1024);
    private readonly PooledBufferWriter _compressed = new(1024);
    private ReadOnlyMemory<byte> _sealed;
    private long _baseTimestamp;
    private long _maxTimestamp;
    private CompressionType _compression;

    public TopicPartition Partition { get; private set; }

    public int Count { get; private set; }

    /// <summary>Uncompressed bytes of records (what batch.size compares with).</summary>
    public int RecordBytes => _records.WrittenCount - RecordBatch.HeaderSize;

    /// <summary>Bytes charged against buffer.memory.</summary>
    public int BufferedBytes { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }

    public List<Waiter> Waiters { get; } = [];

    public bool IsSealed => !_sealed.IsEmpty;

    /// <summary>The finished batch (after <see cref="Seal"/>).</summary>
    public ReadOnlyMemory<byte> Bytes => _sealed;

    /// <summary>A retried batch is not sent again before this time.</summary>
    public DateTimeOffset NotBefore { get; set; }

    /// <summary>Send attempts so far.</summary>
    public int Attempts { get; set; }

    /// <summary>True once producer id and sequence are written (they stay for retries).</summary>
    public bool HasSequence { get; private set; }

    public int BaseSequence { get; private set; } = -1;

    public static ProducerBatch Rent(TopicPartition partition, CompressionType compression, DateTimeOffset now)
    {
        if (!Pool.TryTake(out ProducerBatch? batch))
        {
            batch = new ProducerBatch();
        }

        batch.Partition = partition;
        batch._compression = compression;
        batch.CreatedAt = now;
        batch._records.Clear();
        batch._records.GetSpan(RecordBatch.HeaderSize);
        batch._records.Advance(RecordBatch.HeaderSize);
        return batch;
    }

    public void Return()
    {
        Waiters.Clear();
        Count = 0;
        BufferedBytes = 0;
        Attempts = 0;
        NotBefore = default;
        HasSequence = false;
        BaseSequence = -1;
        _sealed = default;
        _records.ShrinkIfLarge();
        _compressed.ShrinkIfLarge();
        Pool.Add(this);
    }

    /// <summary>The most a record's framing adds to its <see cref="FixedSize"/>: length prefix, attributes, both deltas.</summary>
    public const int MaxFraming = 5 + 1 + 10 + 5;

    /// <summary>
    /// The bytes of a record that do not depend on its place in a batch: key, value and headers with their
    /// lengths. Measured once per record; its buffer charge is this plus <see cref="MaxFraming"/>.
    /// </summary>
    public static int FixedSize(in ProducerRecord record)
    {
        int size = VarInt.SizeOfInt32(record.Headers?.Count ?? 0)
            + (record.Key is { } key ? VarInt.SizeOfInt32(key.Length) + key.Length : 1)
            + (record.Value is { } value ? VarInt.SizeOfInt32(value.Length) + value.Length : 1);
        if (record.Headers is { } headers)
        {
            for (int i = 0; i < headers.Count; i++)
            {
                int k = Encoding.UTF8.GetByteCount(headers[i].Key);
                size += VarInt.SizeOfInt32(k) + k;
                size += headers[i].Value is { } v ? VarInt.SizeOfInt32(v.Length) + v.Length : 1;
            }
        }

        return size;
    }

    /// <summary>
    /// Appends a record when it fits under <paramref name="batchSize"/> (an empty batch takes any record).
    /// Returns the record's offset delta, or -1 when it does not fit. <paramref name="charge"/> is the
    /// record's <see cref="FixedSize"/> plus <see cref="MaxFraming"/>, so the record is not measured again.
    /// </summary>
    public int TryAppend(in ProducerRecord record, long timestamp, int batchSize, int charge)
    {
        if (Count == 0)
        {
            _baseTimestamp = timestamp;
            _maxTimestamp = timestamp;
        }

        long timestampDelta = timestamp - _baseTimestamp;
        int offsetDelta = Count;
        int bodySize = 1 + VarInt.SizeOfInt64(timestampDelta) + VarInt.SizeOfInt32(offsetDelta) + (charge - MaxFraming);
        int size = VarInt.SizeOfInt32(bodySize) + bodySize;
        if (Count > 0 && RecordBytes + size > batchSize)
        {
            return -1;
        }

        Span<byte> span = _records.GetSpan(size);
        int p = VarInt.WriteInt32(span, bodySize);
        span[p++] = 0;
        p += VarInt.WriteInt64(span[p..], timestampDelta);
        p += VarInt.WriteInt32(span[p..], offsetDelta);
        p += WriteBytes(span[p..], record.Key);
        p += WriteBytes(span[p..], record.Value);
        IReadOnlyList<RecordHeader>? headers = record.Headers;
        p += VarInt.WriteInt32(span[p..], headers?.Count ?? 0);
        if (headers is not null)
        {
            for (int i = 0; i < headers.Count; i++)
            {
                int k = Encoding.UTF8.GetByteCount(headers[i].Key);
                p += VarInt.WriteInt32(span[p..], k);
                p += Encoding.UTF8.GetBytes(headers[i].Key, span[p..]);
                p += WriteBytes(span[p..], headers[i].Value);
            }
        }

        _records.Advance(p);
        _maxTimestamp = Math.Max(_maxTimestamp, timestamp);
        Count++;
        BufferedBytes += charge;
        return offsetDelta;
    }

    private static int WriteBytes(Span<byte> span, ReadOnlyMemory<byte>? bytes)
    {
        if (bytes is not { } b)
        {
            return VarInt.WriteInt32(span, -1);
        }

        int p = VarInt.WriteInt32(span, b.Length);
        b.Span.CopyTo(span[p..]);
        return p + b.Length;
    }

    /// <summary>Compresses (when a codec is set) and writes the header; producer fields come later.</summary>
    public void Seal(int compressionLevel)
    {
        Span<byte> batch;
        if (_compression == CompressionType.None)
        {
            batch = _records.WrittenSpan;
        }
        else
        {
            _compressed.Clear();
            _compressed.GetSpan(RecordBatch.HeaderSize);
            _compressed.Advance(RecordBatch.HeaderSize);
            CompressionCodecs.Compress(_compression, _records.WrittenSpan[RecordBatch.HeaderSize..], _compressed, compressionLevel);
            batch = _compressed.WrittenSpan;
        }

        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatch.BaseOffsetOffset..], 0);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatch.LengthOffset..], batch.Length - RecordBatch.LogOverhead);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatch.PartitionLeaderEpochOffset..], -1);
        batch[RecordBatch.MagicOffset] = RecordBatch.CurrentMagic;
        BinaryPrimitives.WriteInt16BigEndian(batch[RecordBatch.AttributesOffset..], (short)_compression);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatch.LastOffsetDeltaOffset..], Count - 1);
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatch.BaseTimestampOffset..], _baseTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatch.MaxTimestampOffset..], _maxTimestamp);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatch.RecordCountOffset..], Count);
        _sealed = _compression == CompressionType.None ? _records.WrittenMemory : _compressed.WrittenMemory;
        SetProducer(-1, -1, -1);
        HasSequence = false;
    }

    /// <summary>Writes producer id, epoch and base sequence (-1s when not idempotent) and the CRC.</summary>
    public void SetProducer(long producerId, short epoch, int baseSequence)
    {
        Span<byte> batch = _compression == CompressionType.None ? _records.WrittenSpan : _compressed.WrittenSpan;
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatch.ProducerIdOffset..], producerId);
        BinaryPrimitives.WriteInt16BigEndian(batch[RecordBatch.ProducerEpochOffset..], epoch);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatch.BaseSequenceOffset..], baseSequence);
        RecordBatch.WriteCrc(batch);
        BaseSequence = baseSequence;
        HasSequence = producerId >= 0;
    }

    public void Complete(long baseOffset, KafkaException? error)
    {
        foreach (Waiter w in Waiters)
        {
            if (error is not null)
            {
                w.Target.Failed(error);
            }
            else
            {
                w.Target.Delivered(Partition, baseOffset < 0 ? -1 : baseOffset + w.OffsetDelta, w.Timestamp);
            }
        }
    }
}

/// <summary>The pooled completion behind <see cref="KafkaProducer.ProduceAsync"/>'s ValueTask.</summary>
internal sealed class RecordCompletion : IDeliveryTarget, IValueTaskSource<DeliveryResult>
{
    private static readonly ConcurrentBag<RecordCompletion> Pool = [];
    private ManualResetValueTaskSourceCore<DeliveryResult> _core = new() { RunContinuationsAsynchronously = true };

    public static RecordCompletion Rent() => Pool.TryTake(out RecordCompletion? c) ? c : new RecordCompletion();

    public ValueTask<DeliveryResult> Task => new(this, _core.Version);

    public void Delivered(TopicPartition partition, long offset, long timestamp) => _core.SetResult(new DeliveryResult(partition, offset, timestamp));

    public void Failed(KafkaException error) => _core.SetException(error);

    public DeliveryResult GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            Pool.Add(this);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}

/// <summary>
/// The completion of a batch call: counts the batches that hold its records and completes when the last
/// is acknowledged, with the first error if any failed.
/// </summary>
internal sealed class BatchCompletion : IDeliveryTarget, IValueTaskSource
{
    private static readonly ConcurrentBag<BatchCompletion> Pool = [];
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _pending;
    private KafkaException? _error;

    public static BatchCompletion Rent()
    {
        BatchCompletion c = Pool.TryTake(out BatchCompletion? pooled) ? pooled : new BatchCompletion();
        c._pending = 1; // the producing call's own reference, released by Seal()
        c._error = null;
        return c;
    }

    public ValueTask Task => new(this, _core.Version);

    /// <summary>One more waiter entry refers to this completion.</summary>
    public void AddWaiter() => Interlocked.Increment(ref _pending);

    /// <summary>The producing call has registered all its records.</summary>
    public void Seal() => Release();

    public void Delivered(TopicPartition partition, long offset, long timestamp) => Release();

    public void Failed(KafkaException error)
    {
        Interlocked.CompareExchange(ref _error, error, null);
        Release();
    }

    private void Release()
    {
        if (Interlocked.Decrement(ref _pending) == 0)
        {
            if (_error is null)
            {
                _core.SetResult(true);
            }
            else
            {
                _core.SetException(_error);
            }
        }
    }

    public void GetResult(short token)
    {
        try
        {
            _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            Pool.Add(this);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}

/// <summary>A TryProduce callback.</summary>
internal sealed class CallbackTarget(Action<DeliveryResult, KafkaException?> callback) : IDeliveryTarget
{
    public void Delivered(TopicPartition partition, long offset, long timestamp) => callback(new DeliveryResult(partition, offset, timestamp), null);

    public void Failed(KafkaException error) => callback(default, error);
}

/// <summary>TryProduce without a callback: nothing to tell.</summary>
internal sealed class NoTarget : IDeliveryTarget
{
    public static readonly NoTarget Instance = new();

    public void Delivered(TopicPartition partition, long offset, long timestamp)
    {
    }

    public void Failed(KafkaException error)
    {
    }
}

internal static class ProduceErrors
{
    public static KafkaException TimedOut(TopicPartition tp, TimeSpan timeout) =>
        new ProduceException(ErrorCode.RequestTimedOut, $"Delivery to {tp} timed out after {timeout.TotalSeconds:0.#} s.", tp);
}
