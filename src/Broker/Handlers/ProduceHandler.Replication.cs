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
/// there: it cannot acknowledge acks=all writes). A write is acknowledged only while this broker still leads the
/// partition in the leader epoch it was appended in (Kafka's DelayedProduce checks leadership too): a leader deposed
/// meanwhile becomes a follower, truncates, and takes the new leader's high watermark, which may pass the write's
/// offset with other records there; that write answers NOT_LEADER_OR_FOLLOWER. Single-node partitions never come here.
/// </summary>
internal sealed partial class ProduceHandler
{
    /// <summary>An acks=all write waiting for the ISR: the partition, the leader epoch it was appended in, the offset the high watermark must pass, its result.</summary>
    private readonly record struct ReplicatedWrite(ReplicaPartition Replica, int LeaderEpoch, PartitionLog Log, long LastOffset, ProduceResponse.PartitionProduceResponse Result);

    /// <summary>False (with the error set) when this broker must refuse the write; <paramref name="replica"/> null on a single node.</summary>
    private bool CheckReplica(string topic, int partition, short acks, ProduceResponse.PartitionProduceResponse result, out ReplicaPartition? replica,
        out int leaderEpoch)
    {
        replica = replicas?.Find(topic, partition);
        leaderEpoch = -1;
        if (replica is null)
        {
            return true;
        }

        ErrorCode error = replicas!.CheckProduce(replica, acks, out leaderEpoch);
        result.ErrorCode = (short)error;
        return error == ErrorCode.None;
    }

    private void Replicated(ReplicaPartition replica, int leaderEpoch, PartitionLog log, short acks, ProduceResponse.PartitionProduceResponse result,
        ref List<ReplicatedWrite>? toReplicate)
    {
        // The end read after the append covers this batch (and perhaps later ones: waiting for them too is safe).
        long last = log.LogEndOffset - 1;
        replicas!.OnLeaderAppend(replica);
        if (acks == -1)
        {
            (toReplicate ??= []).Add(new ReplicatedWrite(replica, leaderEpoch, log, last, result));
        }
    }

    private async ValueTask<ProduceResponse?> FlushThenAwaitReplicationAsync(
        List<(PartitionLog Log, long End)>? toFlush, List<ReplicatedWrite> writes, int timeoutMs, ProduceResponse response)
    {
        if (toFlush is not null)
        {
            await FlushThenAnswerAsync(toFlush, response).ConfigureAwait(false);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(Math.Max(0, timeoutMs)), time);
        var tasks = new Task<ErrorCode>[writes.Count];
        for (int i = 0; i < tasks.Length; i++)
        {
            tasks[i] = replicas!.WaitReplicatedAsync(writes[i].Replica, writes[i].Log, writes[i].LastOffset, writes[i].LeaderEpoch, timeout.Token);
        }

        for (int i = 0; i < tasks.Length; i++)
        {
            ErrorCode error = await tasks[i].ConfigureAwait(false);
            if (error != ErrorCode.None)
            {
                writes[i].Result.ErrorCode = (short)error;
                writes[i].Result.BaseOffset = -1;
            }
        }

        return response;
    }
}
