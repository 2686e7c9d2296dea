using LogBroker.Protocol;
using LogBroker.Protocol.Records;
using LogBroker.Storage;

namespace LogBroker.Broker.Producers;

/// <summary>
/// Idempotent-producer state of one partition: per producer id, its epoch and its last five batches
/// (first/last sequence and offsets), as Kafka keeps them — producers have up to five requests in flight.
/// </summary>
/// <remarks>
/// <para>Checks follow Java's order: an older epoch is INVALID_PRODUCER_EPOCH; a newer epoch must
/// start at sequence 0; a batch equal to a cached one is a duplicate answered with its original offset;
/// any other sequence that is not last + 1 is OUT_OF_ORDER_SEQUENCE_NUMBER; an unknown producer is
/// accepted at any sequence.</para>
/// <para>Durability: the state is rebuilt from the partition's log when first needed after a start
/// (the batch headers carry producer id, epoch and sequences): the whole log when it is at most
/// <see cref="RebuildWindowBytes"/>, else its last two segments. A producer whose last batch is older than that counts
/// as unknown after a restart (no false errors; a retry of such an old batch would not be recognised
/// as a duplicate). Kafka's producer snapshots would remove that limit.</para>
/// <para>Thread-safety: callers hold <see cref="Sync"/> around check, append and record, so the
/// three are atomic per partition.</para>
/// </remarks>
internal sealed class ProducerStateTable
{
    public const long RebuildWindowBytes = 64L * 1024 * 1024;
    private const int CachedBatches = 5;

    private readonly Dictionary<long, ProducerEntry> _producers = [];

    public Lock Sync { get; } = new();

    /// <summary>Builds the table from the tail of <paramref name="log"/>.</summary>
    public static ProducerStateTable Rebuild(PartitionLog log)
    {
        var table = new ProducerStateTable();
        log.ScanBatches(OffsetAtLeastBytesBeforeEnd(log), (in RecordBatchHeader header, ReadOnlySpan<byte> _) =>
        {
            if (header.ProducerId >= 0)
            {
                table.Record(header, header.BaseOffset);
            }
        });
        return table;
    }

    /// <summary>What to do with a batch from an idempotent producer.</summary>
    public ErrorCode Check(in RecordBatchHeader batch, out long duplicateOf)
    {
        duplicateOf = -1;
        if (!_producers.TryGetValue(batch.ProducerId, out ProducerEntry? entry))
        {
            return ErrorCode.None;
        }

        if (batch.ProducerEpoch < entry.Epoch)
        {
            return ErrorCode.InvalidProducerEpoch;
        }

        if (batch.ProducerEpoch > entry.Epoch)
        {
            return batch.BaseSequence == 0 ? ErrorCode.None : ErrorCode.OutOfOrderSequenceNumber;
        }

        int lastSequence = LastSequence(batch);
        foreach (BatchMetadata cached in entry.Batches)
        {
            if (cached.FirstSequence == batch.BaseSequence && cached.LastSequence == lastSequence)
            {
                duplicateOf = cached.FirstOffset;
                return ErrorCode.DuplicateSequenceNumber;
            }
        }

        int expected = entry.Batches.Count == 0 ? 0 : Next(entry.Batches.Last().LastSequence);
        return batch.BaseSequence == expected ? ErrorCode.None : ErrorCode.OutOfOrderSequenceNumber;
    }

    /// <summary>Remembers an appended batch.</summary>
    public void Record(in RecordBatchHeader batch, long baseOffset)
    {
        if (!_producers.TryGetValue(batch.ProducerId, out ProducerEntry? entry) || batch.ProducerEpoch > entry.Epoch)
        {
            entry = new ProducerEntry(batch.ProducerEpoch);
            _producers[batch.ProducerId] = entry;
        }

        entry.Batches.Enqueue(new BatchMetadata(batch.BaseSequence, LastSequence(batch), baseOffset));
        if (entry.Batches.Count > CachedBatches)
        {
            entry.Batches.Dequeue();
        }
    }

    private static int LastSequence(in RecordBatchHeader batch) =>
        (int)(((long)batch.BaseSequence + batch.LastOffsetDelta) % ((long)int.MaxValue + 1));

    private static int Next(int sequence) => sequence == int.MaxValue ? 0 : sequence + 1;

    private static long OffsetAtLeastBytesBeforeEnd(PartitionLog log)
    {
        IReadOnlyList<long> bases = log.SegmentBaseOffsets;
        return log.Size <= RebuildWindowBytes || bases.Count == 1 ? 0 : bases[Math.Max(0, bases.Count - 2)];
    }

    private sealed class ProducerEntry(short epoch)
    {
        public short Epoch { get; } = epoch;

        public Queue<BatchMetadata> Batches { get; } = new();
    }

    private readonly record struct BatchMetadata(int FirstSequence, int LastSequence, long FirstOffset);
}
