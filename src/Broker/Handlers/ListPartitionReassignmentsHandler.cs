using LogBroker.Broker.Cluster;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// ListPartitionReassignments (key 46), version 0: the reassignments in progress (replicas, adding, removing),
/// from the controller; another broker answers NOT_CONTROLLER. Needs Describe on the cluster. A single node
/// never has one.
/// </summary>
internal sealed class ListPartitionReassignmentsHandler(Authorizer authorizer, ClusterService? cluster = null)
    : RequestHandler<ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse>(ApiKey.ListPartitionReassignments, 0, 0)
{
    /// <summary>Partitions one request may name; more are refused with INVALID_REQUEST.</summary>
    public const int MaxPartitions = 10_000;

    public override async ValueTask<ListPartitionReassignmentsResponse?> HandleAsync(RequestContext context, ListPartitionReassignmentsRequest request)
    {
        var response = new ListPartitionReassignmentsResponse { ErrorMessage = null };
        long count = 0;
        foreach (var t in request.Topics ?? [])
        {
            count += t.PartitionIndexes.Count;
        }

        ErrorCode? refused = authorizer.Check(context, AclOperation.Describe, AclResourceType.Cluster, Authorizer.ClusterName);
        if (refused is null && count > MaxPartitions)
        {
            refused = ErrorCode.InvalidRequest;
        }

        if (refused is null && cluster is not null && cluster.Controller is null)
        {
            refused = ErrorCode.NotController;
        }

        if (refused is { } error)
        {
            response.ErrorCode = (short)error;
            return response;
        }

        if (cluster?.Controller is not { } controller)
        {
            return response;
        }

        List<(string, IReadOnlyList<int>)>? topics = null;
        if (request.Topics is not null)
        {
            topics = [];
            foreach (var t in request.Topics)
            {
                topics.Add((t.Name, t.PartitionIndexes));
            }
        }

        var states = await controller.ListReassignmentsAsync(topics, context.Closing).ConfigureAwait(false);
        var byTopic = new Dictionary<string, ListPartitionReassignmentsResponse.OngoingTopicReassignment>(StringComparer.Ordinal);
        foreach (var s in states)
        {
            if (!byTopic.TryGetValue(s.Topic, out var topic))
            {
                topic = new ListPartitionReassignmentsResponse.OngoingTopicReassignment { Name = s.Topic };
                byTopic[s.Topic] = topic;
                response.Topics.Add(topic);
            }

            topic.Partitions.Add(new()
            {
                PartitionIndex = s.Partition,
                Replicas = [.. s.Replicas],
                AddingReplicas = [.. s.AddingReplicas],
                RemovingReplicas = [.. s.RemovingReplicas],
            });
        }

        return response;
    }
}
