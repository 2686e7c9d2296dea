using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// Metadata (key 3), versions 0–12.
/// Behaviour: this node is the only broker, the controller, and leader and sole in-sync replica of
/// every partition (leader epoch 0). Topics are listed all (null list, or empty in v0) or by name;
/// a missing topic is created when both the request (v4+; always in v0–3) and
/// <see cref="BrokerOptions.AutoCreateTopics"/> allow it, else UNKNOWN_TOPIC_OR_PARTITION; at most
/// <see cref="BrokerOptions.MaxAutoCreateTopicsPerRequest"/> per request (one metadata fsync for them),
/// further missing names get LEADER_NOT_AVAILABLE (retriable); an invalid name (Kafka's rule, at most
/// 249 characters) gets INVALID_TOPIC_EXCEPTION. Topic ids are real (v10+); lookup by id (v12) works.
/// A topic named (or id given) more than once is answered once, as Kafka's set of names does.
/// </summary>
internal sealed class MetadataHandler(
    TopicRegistry topics, ClusterInfo cluster, BrokerOptions options, Authorizer? authorizer = null, Cluster.ClusterMetadataView? clusterView = null) : RequestHandler<MetadataRequest, MetadataResponse>(ApiKey.Metadata, 0, 12)
{
    public override ValueTask<MetadataResponse?> HandleAsync(RequestContext context, MetadataRequest metadata)
    {
        if (clusterView is not null)
        {
            return clusterView.MetadataAsync(context, metadata, authorizer); // cluster mode: every broker, leaders, ISRs
        }

        short version = context.Version;
        var response = new MetadataResponse
        {
            ClusterId = topics.ClusterId,
            ControllerId = cluster.NodeId,
            Brokers = [new MetadataResponse.MetadataResponseBroker { NodeId = cluster.NodeId, Host = cluster.HostFor(context), Port = cluster.PortFor(context) }],
        };

        bool all = metadata.Topics is null || (version == 0 && metadata.Topics.Count == 0);
        if (all)
        {
            foreach (Topic topic in topics.Topics.OrderBy(t => t.Name, StringComparer.Ordinal))
            {
                if (authorizer?.Check(context, AclOperation.Describe, AclResourceType.Topic, topic.Name) is not null)
                {
                    continue; // hidden, as Kafka hides topics the principal may not describe
                }

                response.Topics.Add(Describe(topic));
            }

            if (topics.InternalTopic is { } internalTopic)
            {
                response.Topics.Add(Describe(internalTopic));
            }

            return ValueTask.FromResult<MetadataResponse?>(response);
        }

        bool allowCreate = options.AutoCreateTopics && (version < 4 || metadata.AllowAutoTopicCreation);
        var seenNames = new HashSet<string>(StringComparer.Ordinal);
        var seenIds = new HashSet<Guid>();
        Dictionary<string, ErrorCode>? created = allowCreate ? AutoCreate(context, metadata.Topics!) : null;
        foreach (MetadataRequest.MetadataRequestTopic wanted in metadata.Topics!)
        {
            if (wanted.Name is { } named ? !seenNames.Add(named) : !seenIds.Add(wanted.TopicId))
            {
                continue;
            }

            Topic? topic = wanted.Name is { } name ? topics.Readable(name) : topics.Get(wanted.TopicId);
            if (authorizer?.Check(context, AclOperation.Describe, AclResourceType.Topic, wanted.Name ?? topic?.Name ?? "") is { } refused)
            {
                response.Topics.Add(new MetadataResponse.MetadataResponseTopic { Name = wanted.Name, TopicId = wanted.Name is null ? wanted.TopicId : Guid.Empty, ErrorCode = (short)refused });
                continue;
            }

            if (topic is null && wanted.Name is { } missing && created is not null && Storage.TopicPartition.IsValidTopicName(missing))
            {
                // Past MaxAutoCreateTopicsPerRequest: LEADER_NOT_AVAILABLE, which clients retry (and the retry creates the next few).
                ErrorCode outcome = created.GetValueOrDefault(missing, ErrorCode.LeaderNotAvailable);
                if (outcome is not (ErrorCode.None or ErrorCode.TopicAlreadyExists))
                {
                    response.Topics.Add(new MetadataResponse.MetadataResponseTopic { Name = missing, ErrorCode = (short)outcome });
                    continue;
                }

                topic = topics.Get(missing);
                if (topic is null)
                {
                    // Being created (or deleted) by another request right now: ask again shortly.
                    response.Topics.Add(new MetadataResponse.MetadataResponseTopic { Name = missing, ErrorCode = (short)ErrorCode.LeaderNotAvailable });
                    continue;
                }
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

        return ValueTask.FromResult<MetadataResponse?>(response);
    }

    /// <summary>
    /// Creates up to <see cref="BrokerOptions.MaxAutoCreateTopicsPerRequest"/> of the missing, valid names, with one
    /// metadata fsync. As Kafka, a name needs Create on the cluster or on the topic (else TOPIC_AUTHORIZATION_FAILED);
    /// one the principal may not Describe is not created (the caller answers it as refused).
    /// </summary>
    private Dictionary<string, ErrorCode>? AutoCreate(RequestContext context, List<MetadataRequest.MetadataRequestTopic> wanted)
    {
        List<TopicRequest>? requests = null;
        var configs = new Dictionary<string, string?>();
        var outcomes = new Dictionary<string, ErrorCode>(StringComparer.Ordinal);
        foreach (MetadataRequest.MetadataRequestTopic topic in wanted)
        {
            if (topic.Name is not { } name || !Storage.TopicPartition.IsValidTopicName(name) || topics.Get(name) is not null)
            {
                continue;
            }

            if (authorizer is { Enabled: true } && (!authorizer.Allows(context, AclOperation.Describe, AclResourceType.Topic, name)
                || authorizer.CheckClusterOr(context, AclOperation.Create, AclResourceType.Topic, name) is not null))
            {
                outcomes[name] = ErrorCode.TopicAuthorizationFailed;
                continue;
            }

            requests ??= [];
            if (requests.Count >= options.MaxAutoCreateTopicsPerRequest)
            {
                break;
            }

            if (!requests.Exists(r => r.Name == name))
            {
                requests.Add(new TopicRequest(name, options.NumPartitions, configs));
            }
        }

        if (requests is null)
        {
            return outcomes;
        }

        (ErrorCode Error, string? Message)[] results = topics.Create(requests, validateOnly: false);
        for (int i = 0; i < results.Length; i++)
        {
            outcomes[requests[i].Name] = results[i].Error;
        }

        return outcomes;
    }

    private MetadataResponse.MetadataResponseTopic Describe(Topic topic)
    {
        var described = new MetadataResponse.MetadataResponseTopic { Name = topic.Name, TopicId = topic.Id, IsInternal = TopicRegistry.IsInternal(topic.Name) };
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

