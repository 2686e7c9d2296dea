using LogBroker.Broker.Cluster;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// AlterPartitionReassignments (key 45), version 0 (as Kafka 3.9): starts, replaces or cancels reassignments on
/// the controller (KIP-455); another broker answers NOT_CONTROLLER. Needs Alter on the cluster. A single node
/// can only "reassign" a partition to itself (nothing to do).
/// </summary>
internal sealed class AlterPartitionReassignmentsHandler(Authorizer authorizer, TopicRegistry topics, ClusterInfo info, ClusterService? cluster = null)
    : RequestHandler<AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse>(ApiKey.AlterPartitionReassignments, 0, 0)
{
    /// <summary>Partitions one request may name; more are refused whole with INVALID_REQUEST.</summary>
    public const int MaxPartitions = 10_000;

    public override async ValueTask<AlterPartitionReassignmentsResponse?> HandleAsync(RequestContext context, AlterPartitionReassignmentsRequest request)
    {
        var requested = new List<(string Topic, int Partition, IReadOnlyList<int>? Target)>();
        long count = 0;
        foreach (var t in request.Topics)
        {
            count += t.Partitions.Count;
        }

        ErrorCode? refused = authorizer.Check(context, AclOperation.Alter, AclResourceType.Cluster, Authorizer.ClusterName);
        if (refused is null && count > MaxPartitions)
        {
            refused = ErrorCode.InvalidRequest;
        }

        if (refused is null && cluster is not null && cluster.Controller is null)
        {
            refused = ErrorCode.NotController;
        }

        var response = new AlterPartitionReassignmentsResponse { ErrorMessage = null };
        if (refused is { } error)
        {
            response.ErrorCode = (short)error;
            foreach (var t in request.Topics)
            {
                var topic = new AlterPartitionReassignmentsResponse.ReassignableTopicResponse { Name = t.Name };
                response.Responses.Add(topic);
                foreach (var p in t.Partitions)
                {
                    topic.Partitions.Add(new() { PartitionIndex = p.PartitionIndex, ErrorCode = (short)error, ErrorMessage = null });
                }
            }

            return response;
        }

        foreach (var t in request.Topics)
        {
            foreach (var p in t.Partitions)
            {
                requested.Add((t.Name, p.PartitionIndex, p.Replicas));
            }
        }

        var outcomes = cluster?.Controller is { } controller
            ? await controller.AlterReassignmentsAsync(requested, context.Closing).ConfigureAwait(false)
            : SingleNode(requested);
        var byTopic = new Dictionary<string, AlterPartitionReassignmentsResponse.ReassignableTopicResponse>(StringComparer.Ordinal);
        foreach (var o in outcomes)
        {
            if (!byTopic.TryGetValue(o.Topic, out var topic))
            {
                topic = new AlterPartitionReassignmentsResponse.ReassignableTopicResponse { Name = o.Topic };
                byTopic[o.Topic] = topic;
                response.Responses.Add(topic);
            }

            topic.Partitions.Add(new() { PartitionIndex = o.Partition, ErrorCode = (short)o.Error, ErrorMessage = o.Message });
        }

        return response;
    }

    private List<PartitionOutcome> SingleNode(List<(string Topic, int Partition, IReadOnlyList<int>? Target)> requested)
    {
        var outcomes = new List<PartitionOutcome>(requested.Count);
        foreach (var (topic, partition, target) in requested)
        {
            var error = topics.Get(topic) is not { } t || partition < 0 || partition >= t.Partitions.Length ? ErrorCode.UnknownTopicOrPartition
                : target is null ? ErrorCode.NoReassignmentInProgress
                : target.Count == 1 && target[0] == info.NodeId ? ErrorCode.None
                : ErrorCode.InvalidReplicaAssignment;
            outcomes.Add(new PartitionOutcome(topic, partition, error, null));
        }

        return outcomes;
    }
}
