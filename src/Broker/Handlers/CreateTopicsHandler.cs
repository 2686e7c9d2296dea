using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// CreateTopics (key 19), versions 0–4.
/// Behaviour: partitions -1 means <see cref="BrokerOptions.NumPartitions"/>; replication factor -1 or 1
/// (one node), anything else INVALID_REPLICATION_FACTOR; explicit assignments must place every
/// partition on this node alone; configs must be ones LogBroker honours (<see cref="TopicConfigs"/>),
/// else INVALID_CONFIG; validate_only checks without creating. Creation is immediate and durable.
/// </summary>
internal sealed class CreateTopicsHandler(TopicRegistry topics, ClusterInfo cluster, BrokerOptions options) : IRequestHandler
{
    public ApiKey Key => ApiKey.CreateTopics;

    public short MinVersion => 0;

    public short MaxVersion => 4;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var create = (CreateTopicsRequest)request;
        var response = new CreateTopicsResponse();
        foreach (CreateTopicsRequest.CreatableTopic topic in create.Topics)
        {
            var result = new CreateTopicsResponse.CreatableTopicResult { Name = topic.Name, ErrorMessage = null };
            response.Topics.Add(result);
            ErrorCode error = Create(topic, create.validateOnly, out string? message);
            result.ErrorCode = (short)error;
            result.ErrorMessage = message;
        }

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }

    private ErrorCode Create(CreateTopicsRequest.CreatableTopic topic, bool validateOnly, out string? message)
    {
        message = null;
        if (topic.ReplicationFactor is not (-1 or 1))
        {
            message = $"Replication factor {topic.ReplicationFactor} is larger than the 1 available broker.";
            return ErrorCode.InvalidReplicationFactor;
        }

        int partitions = topic.NumPartitions == -1 ? options.NumPartitions : topic.NumPartitions;
        if (topic.Assignments.Count > 0)
        {
            if (topic.NumPartitions != -1 || topic.ReplicationFactor != -1)
            {
                message = "With explicit assignments, the partition count and replication factor must be -1.";
                return ErrorCode.InvalidRequest;
            }

            foreach (CreateTopicsRequest.CreatableReplicaAssignment assignment in topic.Assignments)
            {
                if (assignment.BrokerIds is not [var only] || only != cluster.NodeId || assignment.PartitionIndex >= topic.Assignments.Count)
                {
                    message = $"Partition {assignment.PartitionIndex} must be assigned to broker {cluster.NodeId} only.";
                    return ErrorCode.InvalidReplicaAssignment;
                }
            }

            partitions = topic.Assignments.Count;
        }

        var configs = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (CreateTopicsRequest.CreatableTopicConfig config in topic.Configs)
        {
            configs[config.Name] = config.Value;
        }

        return topics.Create(topic.Name, partitions, configs, validateOnly, out message);
    }
}
