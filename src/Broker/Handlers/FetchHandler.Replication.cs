using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Records;
using LogBroker.Storage;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// Fetch in cluster mode, for partitions the replica manager was handed: only the leader serves them (else
/// NOT_LEADER_OR_FOLLOWER); a current_leader_epoch older than the leader's is FENCED_LEADER_EPOCH, a newer one
/// UNKNOWN_LEADER_EPOCH. A follower's fetch (replica id, or v15+ replica state, set) reads up to the log end offset and
/// records the follower's progress; a consumer sees only whole batches below the high watermark, and high_watermark =
/// last_stable_offset = the high watermark. Single-node partitions never come here.
/// </summary>
internal sealed partial class FetchHandler
{
    private static int ReplicaIdOf(FetchRequest fetch) => fetch.ReplicaState?.ReplicaId ?? fetch.ReplicaId;

    /// <summary>
    /// False (with the error set) when this broker must not serve the partition. <paramref name="visibleEnd"/>: the
    /// offset a consumer may read up to (the high watermark), or long.MaxValue for a follower or a single-node partition.
    /// </summary>
    private bool CheckReplica(FetchRequest fetch, string topic, FetchRequest.FetchPartition partition, PartitionLog log,
        FetchResponse.PartitionData data, out long visibleEnd)
    {
        visibleEnd = long.MaxValue;
        if (replicas!.Find(topic, partition.Partition) is not { } replica)
        {
            return true;
        }

        ErrorCode error = replicas.CheckLeader(replica, partition.CurrentLeaderEpoch);
        if (error != ErrorCode.None)
        {
            data.ErrorCode = (short)error;
            data.HighWatermark = data.LastStableOffset = data.LogStartOffset = -1;
            return false;
        }

        int replicaId = ReplicaIdOf(fetch);
        if (replicaId >= 0)
        {
            replicas.OnFollowerFetch(replica, replicaId, fetch.ReplicaState?.ReplicaEpoch ?? -1, partition.FetchOffset);
        }
        else
        {
            visibleEnd = log.HighWatermark;
        }

        return true;
    }

    /// <summary>The whole batches of <paramref name="read"/> that start below <paramref name="highWatermark"/>.</summary>
    private static LogReadResult BelowHighWatermark(LogReadResult read, long highWatermark)
    {
        ReadOnlySpan<byte> records = read.Records.Span;
        int length = 0;
        while (records.Length - length >= RecordBatch.HeaderSize)
        {
            RecordBatchHeader header = RecordBatchHeader.Read(records[length..]);
            if (header.BaseOffset >= highWatermark || header.TotalSize <= 0 || header.TotalSize > records.Length - length)
            {
                break;
            }

            length += header.TotalSize;
        }

        return length == records.Length ? read : read.TakeFirst(length);
    }

    /// <summary>What a parked fetch of a replicated partition waits for, or null (single node: the append signal).</summary>
    private Task? ReplicatedSignal(FetchRequest fetch, int topicIndex, int partitionIndex, PartitionLog log, FetchResponse.PartitionData data)
    {
        if (replicas is null || !log.HasSeparateHighWatermark)
        {
            return null;
        }

        if (ReplicaIdOf(fetch) < 0)
        {
            return log.WhenHighWatermarkAfter(data.HighWatermark);
        }

        // The response lists the request's partitions in order (Build adds one entry for each).
        long fetchOffset = fetch.Topics[topicIndex].Partitions[partitionIndex].FetchOffset;
        return log.WhenAppendedAfter(fetchOffset);
    }
}
