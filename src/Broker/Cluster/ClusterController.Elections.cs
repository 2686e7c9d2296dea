using LogBroker.Broker.Replication;
using LogBroker.Protocol;

namespace LogBroker.Broker.Cluster;

/// <summary>One partition's answer to an operator request (ElectLeaders, AlterPartitionReassignments).</summary>
/// <param name="Topic">The topic.</param>
/// <param name="Partition">The partition index.</param>
/// <param name="Error">NONE when done, else why not.</param>
/// <param name="Message">A human reason, or null.</param>
public sealed record PartitionOutcome(string Topic, int Partition, ErrorCode Error, string? Message = null);

/// <summary>ElectLeaders (API 43) on the controller: preferred and unclean elections, each a fenced compare-and-set.</summary>
public sealed partial class ClusterController
{
    /// <summary>How many times a partition's state is re-read when it changed under an update (the leader altered its ISR).</summary>
    private const int UpdateAttempts = 5;

    /// <summary>
    /// Runs <paramref name="type"/> election on each named partition, or on every partition when
    /// <paramref name="partitions"/> is null (then, as Kafka answers, partitions that need no election are left
    /// out of the result). A deposed controller answers NOT_CONTROLLER for what it had not done.
    /// </summary>
    public async Task<List<PartitionOutcome>> ElectLeadersAsync(
        ElectionType type, IReadOnlyList<(string Topic, int Partition)>? partitions, CancellationToken cancellationToken)
    {
        var live = await _registrar.LiveBrokersAsync(cancellationToken).ConfigureAwait(false);
        var targets = partitions ?? await AllPartitionsAsync(cancellationToken).ConfigureAwait(false);
        var outcomes = new List<PartitionOutcome>(targets.Count);
        var fenced = false;
        foreach (var (topic, partition) in targets)
        {
            var error = fenced
                ? ErrorCode.NotController
                : await UpdatePartitionAsync(topic, partition, live, s => AdminElection.Elect(s, type, live.ContainsKey), cancellationToken).ConfigureAwait(false);
            fenced |= error == ErrorCode.NotController;
            if (partitions is null && error == ErrorCode.ElectionNotNeeded)
            {
                continue;
            }

            outcomes.Add(new PartitionOutcome(topic, partition, error, Describe(error)));
        }

        return outcomes;
    }

    /// <summary>
    /// Reads a partition's state, asks <paramref name="decide"/> for the next one, and writes it fenced on the
    /// controller epoch, the key's revision and (for a new leader) the leader's registration, so that neither a
    /// deposed controller, nor an ISR change made meanwhile, nor a leader that died since the read slips through.
    /// A changed state is re-read a bounded number of times.
    /// </summary>
    private async Task<ErrorCode> UpdatePartitionAsync(
        string topic,
        int partition,
        SortedDictionary<int, BrokerRegistration> live,
        Func<PartitionState, (PartitionState? Next, ErrorCode Error)> decide,
        CancellationToken cancellationToken)
    {
        return await store.UpdateAsync(
            keys.Partition(topic, partition),
            UpdateAttempts,
            ErrorCode.RequestTimedOut,
            kv =>
            {
                if (kv is null || ClusterJson.DecodePartition(kv.Value) is not { } state)
                {
                    return new StoreDecision<ErrorCode>(ErrorCode.UnknownTopicOrPartition);
                }

                var (next, error) = decide(state);
                if (next is null || next.Leader < 0 || next.Leader == state.Leader)
                {
                    return new(error, next is null ? null : ClusterJson.Encode(next));
                }

                return live.TryGetValue(next.Leader, out var leader)
                    ? new(error, ClusterJson.Encode(next), [StoreCompare.CreatedAt(keys.Broker(next.Leader), leader.BrokerEpoch)])
                    : new(ErrorCode.EligibleLeadersNotAvailable);
            },
            (compares, ops, ct) => election.FencedWriteAsync(epoch, compares, ops, ct),
            async ct => (!await IsCurrentAsync(ct).ConfigureAwait(false), ErrorCode.NotController),
            cancellationToken).ConfigureAwait(false);
    }

    private async Task<List<(string Topic, int Partition)>> AllPartitionsAsync(CancellationToken cancellationToken)
    {
        var range = await store.RangeAsync(keys.PartitionsPrefix, cancellationToken).ConfigureAwait(false);
        var all = new List<(string, int)>(range.Items.Count);
        foreach (var kv in range.Items)
        {
            if (ClusterJson.DecodePartition(kv.Value) is { } state && kv.Key == keys.Partition(state.Topic, state.Partition))
            {
                all.Add((state.Topic, state.Partition));
            }
        }

        return all;
    }

    private static string? Describe(ErrorCode error) => error switch
    {
        ErrorCode.None => null,
        ErrorCode.ElectionNotNeeded => "The partition already has the leader this election would choose.",
        ErrorCode.PreferredLeaderNotAvailable => "The preferred replica is not alive or not in the ISR.",
        ErrorCode.EligibleLeadersNotAvailable => "No live replica can lead the partition.",
        ErrorCode.UnknownTopicOrPartition => "No such topic or partition.",
        ErrorCode.NotController => "This broker was deposed as controller.",
        ErrorCode.RequestTimedOut => "The partition state kept changing; retry.",
        _ => null,
    };
}
