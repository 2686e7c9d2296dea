using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Producers;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// DeleteTopics (key 20), versions 0–4 (by name).
/// Behaviour: the topic disappears from metadata at once and its partitions' directories are
/// removed; fetches holding data keep their bytes until answered. Unknown → UNKNOWN_TOPIC_OR_PARTITION.
/// </summary>
internal sealed class DeleteTopicsHandler(TopicRegistry topics, ProducerStates producers) : IRequestHandler
{
    public ApiKey Key => ApiKey.DeleteTopics;

    public short MinVersion => 0;

    public short MaxVersion => 4;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var delete = (DeleteTopicsRequest)request;
        var response = new DeleteTopicsResponse();
        foreach (string name in delete.TopicNames)
        {
            Topic? topic = topics.Get(name);
            ErrorCode error = topics.Delete(name);
            if (error == ErrorCode.None && topic is not null)
            {
                foreach (Storage.PartitionLog log in topic.Partitions)
                {
                    producers.Forget(log);
                }
            }

            response.Responses.Add(new DeleteTopicsResponse.DeletableTopicResult { Name = name, TopicId = topic?.Id ?? Guid.Empty, ErrorCode = (short)error });
        }

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }
}
