using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// Metadata (key 3), versions 0–12.
/// Behaviour: this node is the only broker, the controller, and leader and sole in-sync replica of
/// every partition (leader epoch 0). Topics are listed all (null list, or empty in v0) or by name;
/// a missing topic is created when both the request (v4+; always in v0–3) and
/// <see cref="BrokerOptions.AutoCreateTopics"/> allow it, else UNKNOWN_TOPIC_OR_PARTITION; an
/// invalid name gets INVALID_TOPIC_EXCEPTION. Topic ids are real (v10+); lookup by id (v12) works.
/// A topic named (or id given) more than once is answered once, as Kafka's set of names does.
/// </summary>
internal sealed class MetadataHandler(TopicRegistry topics, ClusterInfo cluster, BrokerOptions options) : IRequestHandler
{
    public ApiKey Key => ApiKey.Metadata;

    public short MinVersion => 0;

    public short MaxVersion => 12;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var metadata = (MetadataRequest)request;
        short version = context.Version;
        var response = new MetadataResponse
        {
            ClusterId = topics.ClusterId,
            ControllerId = cluster.NodeId,
            Brokers = [new MetadataResponse.MetadataResponseBroker { NodeId = cluster.NodeId, Host = cluster.Host, Port = cluster.Port }],
        };

        bool all = metadata.Topics is null || (version == 0 && metadata.Topics.Count == 0);
        if (all)
        {
            foreach (Topic topic in topics.Topics.OrderBy(t => t.Name, StringComparer.Ordinal))
            {
                response.Topics.Add(Describe(topic));
            }

            return ValueTask.FromResult<IKafkaMessage?>(response);
        }

        bool allowCreate = options.AutoCreateTopics && (version < 4 || metadata.AllowAutoTopicCreation);
        var seenNames = new HashSet<string>(StringComparer.Ordinal);
        var seenIds = new HashSet<Guid>();
        foreach (MetadataRequest.MetadataRequestTopic wanted in metadata.Topics!)
        {
            if (wanted.Name is { } named ? !seenNames.Add(named) : !seenIds.Add(wanted.TopicId))
            {
                continue;
            }

            Topic? topic = wanted.Name is { } name ? topics.Get(name) : topics.Get(wanted.TopicId);
            if (topic is null && wanted.Name is { } missing && allowCreate)
            {
                ErrorCode created = topics.Create(missing, options.NumPartitions, new Dictionary<string, string?>(), validateOnly: false, out _);
                if (created is not (ErrorCode.None or ErrorCode.TopicAlreadyExists))
                {
                    response.Topics.Add(new MetadataResponse.MetadataResponseTopic { Name = missing, ErrorCode = (short)created });
                    continue;
                }

                topic = topics.Get(missing);
            }

            response.Topics.Add(topic is null
                ? new MetadataResponse.MetadataResponseTopic
                {
                    Name = wanted.Name,
                    TopicId = wanted.Name is null ? wanted.TopicId : Guid.Empty,
                    ErrorCode = (short)(wanted.Name is null ? ErrorCode.UnknownTopicId
                        : Storage.TopicPartition.IsValidTopicName(wanted.Name) ? ErrorCode.UnknownTopicOrPartition : ErrorCode.InvalidTopicException),
                }
                : Describe(topic));
        }

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }

    private MetadataResponse.MetadataResponseTopic Describe(Topic topic)
    {
        var described = new MetadataResponse.MetadataResponseTopic { Name = topic.Name, TopicId = topic.Id };
        for (int p = 0; p < topic.Partitions.Length; p++)
        {
            described.Partitions.Add(new MetadataResponse.MetadataResponsePartition
            {
                PartitionIndex = p,
                LeaderId = cluster.NodeId,
                LeaderEpoch = ClusterInfo.LeaderEpoch,
                ReplicaNodes = [cluster.NodeId],
                IsrNodes = [cluster.NodeId],
            });
        }

        return described;
    }
}

