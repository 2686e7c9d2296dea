using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// CreatePartitions (key 37), versions 0–3 (v3 is v2 that may be throttled; nothing is).
/// Behaviour: raises a topic's partition count; the new count must be larger and at most
/// <see cref="BrokerOptions.MaxPartitionsPerTopic"/> (INVALID_PARTITIONS); more than
/// <see cref="BrokerOptions.MaxPartitionsPerRequest"/> new partitions in all fail every topic with
/// POLICY_VIOLATION, as do new partitions past <see cref="BrokerOptions.MaxPartitionsPerBroker"/>; a topic
/// named twice gets INVALID_REQUEST (one answer per name); explicit assignments must name this node
/// only; validate_only checks without changing anything.
/// </summary>
internal sealed class CreatePartitionsHandler(TopicRegistry topics, ClusterInfo cluster, BrokerOptions options, Authorizer? authorizer = null, Cluster.ClusterTopicAdmin? clusterAdmin = null) : RequestHandler<CreatePartitionsRequest, CreatePartitionsResponse>(ApiKey.CreatePartitions, 0, 3)
{
    public override ValueTask<CreatePartitionsResponse?> HandleAsync(RequestContext context, CreatePartitionsRequest create)
    {
        if (clusterAdmin is not null)
        {
            return clusterAdmin.CreatePartitionsAsync(context, create); // cluster mode: the controller decides
        }

        var response = new CreatePartitionsResponse();
        var counts = new Dictionary<string, int>(create.Topics.Count, StringComparer.Ordinal);
        long added = 0;
        foreach (CreatePartitionsRequest.CreatePartitionsTopic topic in create.Topics)
        {
            counts[topic.Name] = counts.GetValueOrDefault(topic.Name) + 1;
            if (topics.Get(topic.Name) is { } existing && topic.Count > existing.Partitions.Length)
            {
                added += topic.Count - existing.Partitions.Length;
            }
        }

        foreach (CreatePartitionsRequest.CreatePartitionsTopic topic in create.Topics)
        {
            int count = counts[topic.Name];
            if (count == 0)
            {
                continue;
            }

            counts[topic.Name] = 0;
            ErrorCode error;
            string? message = null;
            if (count > 1)
            {
                error = ErrorCode.InvalidRequest;
                message = "Duplicate topic in request.";
            }
            else if (authorizer?.Check(context, AclOperation.Alter, AclResourceType.Topic, topic.Name) is { } denied)
            {
                error = denied; // Kafka: Alter on the topic
                message = "The topic authorization is failed.";
            }
            else if (added > options.MaxPartitionsPerRequest)
            {
                error = ErrorCode.PolicyViolation;
                message = $"Excessively large number of partitions per request: {added} new, limit {options.MaxPartitionsPerRequest} (Broker:MaxPartitionsPerRequest).";
            }
            else if (topic.Assignments?.Exists(a => a.BrokerIds is not [var only] || only != cluster.NodeId) == true)
            {
                error = ErrorCode.InvalidReplicaAssignment;
                message = $"New partitions must be assigned to broker {cluster.NodeId} only.";
            }
            else
            {
                error = topics.AddPartitions(topic.Name, topic.Count, create.ValidateOnly, out message);
            }

            response.Results.Add(new CreatePartitionsResponse.CreatePartitionsTopicResult { Name = topic.Name, ErrorCode = (short)error, ErrorMessage = message });
        }

        return ValueTask.FromResult<CreatePartitionsResponse?>(response);
    }
}
