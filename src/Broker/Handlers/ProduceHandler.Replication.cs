using LogBroker.Broker.Replication;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Storage;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// Produce in cluster mode, for partitions the replica manager was handed: only the leader accepts writes
/// (NOT_LEADER_OR_FOLLOWER elsewhere); acks=all is refused with NOT_ENOUGH_REPLICAS while the ISR is smaller than the
/// topic's min.insync.replicas, and answered once the high watermark covers the batch, or with REQUEST_TIMED_OUT
/// after the request's timeout (a leader that lost its followers, or was deposed without knowing it yet, never gets
/// there: it cannot acknowledge acks=all writes). Single-node partitions never come here.
/// </summary>
internal sealed partial class ProduceHandler
{
    /// <summary>An acks=all write waiting for the ISR: the partition, the offset the high watermark must pass, its result.</summary>
    private readonly record struct ReplicatedWrite(PartitionLog Log, long LastOffset, ProduceResponse.PartitionProduceResponse Result);

    /// <summary>False (with the error set) when this broker must refuse the write; <paramref name="replica"/> null on a single node.</summary>
    private bool CheckReplica(string topic, int partition, short acks, ProduceResponse.PartitionProduceResponse result, out ReplicaPartition? replica)
    {
        replica = replicas?.Find(topic, partition);
        if (replica is null)
        {
            return true;
        }

        ErrorCode error = replicas!.CheckProduce(replica, acks);
        result.ErrorCode = (short)error;
        return error == ErrorCode.None;
    }

    private void Replicated(ReplicaPartition replica, PartitionLog log, short acks, ProduceResponse.PartitionProduceResponse result,
        ref List<ReplicatedWrite>? toReplicate)
    {
        // The end read after the append covers this batch (and perhaps later ones: waiting for them too is safe).
        long last = log.LogEndOffset - 1;
        replicas!.OnLeaderAppend(replica);
        if (acks == -1)
        {
            (toReplicate ??= []).Add(new ReplicatedWrite(log, last, result));
        }
    }

    private async ValueTask<ProduceResponse?> FlushThenAwaitReplicationAsync(
        List<(PartitionLog Log, long End)>? toFlush, List<ReplicatedWrite> writes, int timeoutMs, ProduceResponse response)
    {
        if (toFlush is not null)
        {
            await FlushThenAnswerAsync(toFlush, response).ConfigureAwait(false);
        }

        var tasks = new Task[writes.Count];
        for (int i = 0; i < tasks.Length; i++)
        {
            tasks[i] = writes[i].Log.WhenHighWatermarkAfter(writes[i].LastOffset);
        }

        using var timeout = new CancellationTokenSource();
        Task expiry = Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, timeoutMs)), time, timeout.Token);
        Task all = Task.WhenAll(tasks);
        await Task.WhenAny(all, expiry).ConfigureAwait(false);
        await timeout.CancelAsync().ConfigureAwait(false);
        for (int i = 0; i < tasks.Length; i++)
        {
            if (writes[i].Log.HighWatermark <= writes[i].LastOffset)
            {
                writes[i].Result.ErrorCode = (short)ErrorCode.RequestTimedOut;
                writes[i].Result.BaseOffset = -1;
            }
        }

        return response;
    }
}
