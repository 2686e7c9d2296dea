using LogBroker.Broker.Cluster;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// ElectLeaders (key 43), versions 0–2 (as Kafka 3.9): preferred or unclean leader election, done by the
/// controller; another broker answers NOT_CONTROLLER. Needs Alter on the cluster. In single-node mode every
/// partition is led by its only replica, so each existing one answers ELECTION_NOT_NEEDED.
/// </summary>
internal sealed class ElectLeadersHandler(Authorizer authorizer, TopicRegistry topics, ClusterService? cluster = null)
    : RequestHandler<ElectLeadersRequest, ElectLeadersResponse>(ApiKey.ElectLeaders, 0, 2)
{
    /// <summary>Partitions one request may name; more are refused whole with INVALID_REQUEST.</summary>
    public const int MaxPartitions = 10_000;

    public override async ValueTask<ElectLeadersResponse?> HandleAsync(RequestContext context, ElectLeadersRequest request)
    {
        var requested = Requested(request, out var count);
        ErrorCode? refused = authorizer.Check(context, AclOperation.Alter, AclResourceType.Cluster, Authorizer.ClusterName);
        if (refused is null && (count > MaxPartitions || request.ElectionType is not (0 or 1)))
        {
            refused = ErrorCode.InvalidRequest;
        }

        if (refused is null && cluster is not null && cluster.Controller is null)
        {
            refused = ErrorCode.NotController;
        }

        if (refused is { } error)
        {
            return Answer(request, [.. Each(request, error)], error);
        }

        var type = (ElectionType)request.ElectionType;
        if (cluster?.Controller is not { } controller)
        {
            return Answer(request, SingleNode(requested), ErrorCode.None);
        }

        var outcomes = await controller.ElectLeadersAsync(type, requested, context.Closing).ConfigureAwait(false);
        return Answer(request, outcomes, ErrorCode.None);
    }

    private static List<(string Topic, int Partition)>? Requested(ElectLeadersRequest request, out long count)
    {
        count = 0;
        if (request.TopicPartitions is null)
        {
            return null;
        }

        foreach (var t in request.TopicPartitions)
        {
            count += t.Partitions.Count;
        }

        if (count > MaxPartitions)
        {
            return [];
        }

        var list = new List<(string, int)>((int)count);
        foreach (var t in request.TopicPartitions)
        {
            foreach (var p in t.Partitions)
            {
                list.Add((t.Topic, p));
            }
        }

        return list;
    }

    private static IEnumerable<PartitionOutcome> Each(ElectLeadersRequest request, ErrorCode error)
    {
        foreach (var t in request.TopicPartitions ?? [])
        {
            foreach (var p in t.Partitions)
            {
                yield return new PartitionOutcome(t.Topic, p, error, null);
            }
        }
    }

    private List<PartitionOutcome> SingleNode(List<(string Topic, int Partition)>? requested)
    {
        var outcomes = new List<PartitionOutcome>();
        foreach (var (topic, partition) in requested ?? [])
        {
            var known = topics.Get(topic) is { } t && partition >= 0 && partition < t.Partitions.Length;
            outcomes.Add(new PartitionOutcome(topic, partition, known ? ErrorCode.ElectionNotNeeded : ErrorCode.UnknownTopicOrPartition, null));
        }

        return outcomes;
    }

    private static ElectLeadersResponse Answer(ElectLeadersRequest request, List<PartitionOutcome> outcomes, ErrorCode top)
    {
        var response = new ElectLeadersResponse { ErrorCode = (short)top };
        var byTopic = new Dictionary<string, ElectLeadersResponse.ReplicaElectionResult>(StringComparer.Ordinal);
        foreach (var t in request.TopicPartitions ?? [])
        {
            if (!byTopic.ContainsKey(t.Topic))
            {
                var result = new ElectLeadersResponse.ReplicaElectionResult { Topic = t.Topic };
                byTopic[t.Topic] = result;
                response.ReplicaElectionResults.Add(result);
            }
        }

        foreach (var o in outcomes)
        {
            if (!byTopic.TryGetValue(o.Topic, out var result))
            {
                result = new ElectLeadersResponse.ReplicaElectionResult { Topic = o.Topic };
                byTopic[o.Topic] = result;
                response.ReplicaElectionResults.Add(result);
            }

            result.PartitionResult.Add(new ElectLeadersResponse.PartitionResult { PartitionId = o.Partition, ErrorCode = (short)o.Error, ErrorMessage = o.Message });
        }

        return response;
    }
}
