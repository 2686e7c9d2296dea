using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// CreatePartitions (key 37), versions 0–2.
/// Behaviour: raises a topic's partition count; the new count must be larger (INVALID_PARTITIONS);
/// explicit assignments must name this node only; validate_only checks without changing anything.
/// </summary>
internal sealed class CreatePartitionsHandler(TopicRegistry topics, ClusterInfo cluster) : IRequestHandler
{
    public ApiKey Key => ApiKey.CreatePartitions;

    public short MinVersion => 0;

    public short MaxVersion => 2;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var create = (CreatePartitionsRequest)request;
        var response = new CreatePartitionsResponse();
        foreach (CreatePartitionsRequest.CreatePartitionsTopic topic in create.Topics)
        {
            ErrorCode error;
            string? message = null;
            if (topic.Assignments?.Exists(a => a.BrokerIds is not [var only] || only != cluster.NodeId) == true)
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

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }
}
