using LogBroker.Broker.Replication;
using LogBroker.Protocol;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// Partition reassignment (AlterPartitionReassignments 45, ListPartitionReassignments 46) on the controller:
/// the rules are <see cref="ReassignmentRules"/>; every step is a fenced compare-and-set of the partition state.
/// </summary>
public sealed partial class ClusterController
{
    /// <summary>Starts, replaces or (target null) cancels each partition's reassignment.</summary>
    public async Task<List<PartitionOutcome>> AlterReassignmentsAsync(
        IReadOnlyList<(string Topic, int Partition, IReadOnlyList<int>? Target)> requests, CancellationToken cancellationToken)
    {
        var live = await _registrar.LiveBrokersAsync(cancellationToken).ConfigureAwait(false);
        var outcomes = new List<PartitionOutcome>(requests.Count);
        var fenced = false;
        foreach (var (topic, partition, target) in requests)
        {
            var error = fenced
                ? ErrorCode.NotController
                : await UpdatePartitionAsync(
                    topic,
                    partition,
                    live,
                    s => target is null ? ReassignmentRules.Cancel(s, live.ContainsKey, uncleanLeaderElection) : ReassignmentRules.Start(s, target, live.ContainsKey),
                    cancellationToken).ConfigureAwait(false);
            fenced |= error == ErrorCode.NotController;
            outcomes.Add(new PartitionOutcome(topic, partition, error, error switch
            {
                ErrorCode.InvalidReplicaAssignment => target is null
                    ? "Cancelling would need an unclean leader election, which is disabled."
                    : "The target must name distinct, registered brokers.",
                ErrorCode.NoReassignmentInProgress => "No reassignment is in progress for the partition.",
                _ => Describe(error),
            }));
        }

        return outcomes;
    }

    /// <summary>
    /// The partitions being reassigned: all of them when <paramref name="topics"/> is null, else those named
    /// (unknown or idle ones are left out, as Kafka answers).
    /// </summary>
    public async Task<List<PartitionState>> ListReassignmentsAsync(
        IReadOnlyList<(string Topic, IReadOnlyList<int> Partitions)>? topics, CancellationToken cancellationToken)
    {
        var found = new List<PartitionState>();
        if (topics is null)
        {
            var range = await store.RangeAsync(keys.PartitionsPrefix, cancellationToken).ConfigureAwait(false);
            foreach (var kv in range.Items)
            {
                if (ClusterJson.DecodePartition(kv.Value) is { } state && ReassignmentRules.InProgress(state))
                {
                    found.Add(state);
                }
            }

            return found;
        }

        foreach (var (topic, partitions) in topics)
        {
            foreach (var p in partitions)
            {
                var kv = await store.GetAsync(keys.Partition(topic, p), cancellationToken).ConfigureAwait(false);
                if (kv is not null && ClusterJson.DecodePartition(kv.Value) is { } state && ReassignmentRules.InProgress(state))
                {
                    found.Add(state);
                }
            }
        }

        return found;
    }

    /// <summary>
    /// Finishes the partition's reassignment when its adding replicas have all joined the ISR (called on every
    /// change of its state). True when it finished now, false when there was nothing to finish yet, null when
    /// this controller was deposed.
    /// </summary>
    public async Task<bool?> CompleteReassignmentAsync(string topic, int partition, CancellationToken cancellationToken)
    {
        var live = await _registrar.LiveBrokersAsync(cancellationToken).ConfigureAwait(false);
        var finished = false;
        var error = await UpdatePartitionAsync(
            topic,
            partition,
            live,
            s =>
            {
                var next = ReassignmentRules.TryComplete(s, live.ContainsKey);
                finished = next is not null;
                return (next, ErrorCode.None);
            },
            cancellationToken).ConfigureAwait(false);
        return error == ErrorCode.NotController ? null : finished && error == ErrorCode.None;
    }
}
