using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Producers;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// DeleteTopics (key 20), versions 0–4 (by name).
/// Behaviour: the deletion is made durable first (a tombstone in the metadata log), then the topic
/// disappears from metadata and its partitions' directories are renamed aside and removed; a crash at
/// any point leaves the topic either fully there or fully gone (leftovers are deleted at start). Fetches
/// holding data keep their bytes until answered. Unknown → UNKNOWN_TOPIC_OR_PARTITION; a name given
/// twice → INVALID_REQUEST (one answer per name); a failure to write the tombstone → KAFKA_STORAGE_ERROR
/// and the topic stays.
/// </summary>
internal sealed class DeleteTopicsHandler(TopicRegistry topics, ProducerStates producers) : RequestHandler<DeleteTopicsRequest, DeleteTopicsResponse>
{
    public override ApiKey Key => ApiKey.DeleteTopics;

    public override short MinVersion => 0;

    public override short MaxVersion => 4;

    public override ValueTask<DeleteTopicsResponse?> HandleAsync(RequestContext context, DeleteTopicsRequest delete)
    {
        var response = new DeleteTopicsResponse();
        var counts = new Dictionary<string, int>(delete.TopicNames.Count, StringComparer.Ordinal);
        foreach (string name in delete.TopicNames)
        {
            counts[name] = counts.GetValueOrDefault(name) + 1;
        }

        foreach (string name in delete.TopicNames)
        {
            int count = counts[name];
            if (count == 0)
            {
                continue;
            }

            counts[name] = 0;
            if (count > 1)
            {
                response.Responses.Add(new DeleteTopicsResponse.DeletableTopicResult { Name = name, ErrorCode = (short)ErrorCode.InvalidRequest });
                continue;
            }

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

        return ValueTask.FromResult<DeleteTopicsResponse?>(response);
    }
}
