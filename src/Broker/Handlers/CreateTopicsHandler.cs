using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using LogBroker.Storage;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// CreateTopics (key 19), versions 0–7 (v5+ answer each created topic's partition count, replication
/// factor and every config LogBroker honours with its value and source, KIP-525, validate_only too;
/// v7 its topic id; v6 only adds a throttling error, never sent).
/// Behaviour: partitions -1 means <see cref="BrokerOptions.NumPartitions"/>; replication factor -1 or 1
/// (one node), anything else INVALID_REPLICATION_FACTOR; explicit assignments must place every
/// partition on this node alone; configs must be ones LogBroker honours (<see cref="TopicConfigs"/>),
/// else INVALID_CONFIG; validate_only checks without creating. Creation is immediate and durable (one
/// metadata fsync for the whole request). A name given twice gets INVALID_REQUEST (one answer per name);
/// more than <see cref="BrokerOptions.MaxPartitionsPerRequest"/> partitions in all fail every topic with
/// POLICY_VIOLATION; a topic over <see cref="BrokerOptions.MaxPartitionsPerTopic"/> gets INVALID_PARTITIONS, and
/// one past <see cref="BrokerOptions.MaxPartitionsPerBroker"/> POLICY_VIOLATION; a failure to write gets
/// KAFKA_STORAGE_ERROR and creates nothing.
/// </summary>
internal sealed class CreateTopicsHandler(TopicRegistry topics, ClusterInfo cluster, BrokerOptions options, Authorizer? authorizer = null, Cluster.ClusterTopicAdmin? clusterAdmin = null) : RequestHandler<CreateTopicsRequest, CreateTopicsResponse>(ApiKey.CreateTopics, 0, 7)
{
    public override ValueTask<CreateTopicsResponse?> HandleAsync(RequestContext context, CreateTopicsRequest create)
    {
        if (clusterAdmin is not null)
        {
            return clusterAdmin.CreateTopicsAsync(context, create); // cluster mode: the controller decides
        }

        var response = new CreateTopicsResponse();
        var counts = new Dictionary<string, int>(create.Topics.Count, StringComparer.Ordinal);
        foreach (CreateTopicsRequest.CreatableTopic topic in create.Topics)
        {
            counts[topic.Name] = counts.GetValueOrDefault(topic.Name) + 1;
        }

        // One answer per distinct name; a name given twice gets INVALID_REQUEST, as Kafka answers.
        var requests = new List<TopicRequest>(counts.Count);
        var results = new List<CreateTopicsResponse.CreatableTopicResult>(counts.Count);
        long total = 0;
        foreach (CreateTopicsRequest.CreatableTopic topic in create.Topics)
        {
            int count = counts[topic.Name];
            if (count == 0)
            {
                continue;
            }

            var result = new CreateTopicsResponse.CreatableTopicResult { Name = topic.Name, ErrorMessage = null };
            response.Topics.Add(result);
            if (count > 1)
            {
                counts[topic.Name] = 0;
                result.ErrorCode = (short)ErrorCode.InvalidRequest;
                result.ErrorMessage = "Duplicate topic name.";
                continue;
            }

            counts[topic.Name] = 0;
            if (authorizer?.CheckClusterOr(context, AclOperation.Create, AclResourceType.Topic, topic.Name) is { } denied)
            {
                result.ErrorCode = (short)denied; // Kafka: Create on the cluster or on the topic
                result.ErrorMessage = "Authorization failed.";
                continue;
            }

            ErrorCode error = Check(topic, out int partitions, out Dictionary<string, string?>? configs, out string? message);
            if (error != ErrorCode.None)
            {
                result.ErrorCode = (short)error;
                result.ErrorMessage = message;
                continue;
            }

            total += Math.Max(partitions, 0);
            requests.Add(new TopicRequest(topic.Name, partitions, configs!));
            results.Add(result);
            result.NumPartitions = partitions; // v5+; reset below when the creation fails
            result.ReplicationFactor = 1;
        }

        if (total > options.MaxPartitionsPerRequest)
        {
            // KRaft refuses the whole request (ReplicationControlManager, MAX_PARTITIONS_PER_BATCH).
            foreach (CreateTopicsResponse.CreatableTopicResult result in response.Topics)
            {
                if (result.ErrorCode == (short)ErrorCode.None)
                {
                    result.ErrorCode = (short)ErrorCode.PolicyViolation;
                    result.ErrorMessage = $"Excessively large number of partitions per request: {total} requested, limit {options.MaxPartitionsPerRequest} (Broker:MaxPartitionsPerRequest).";
                }
            }

            return ValueTask.FromResult<CreateTopicsResponse?>(response);
        }

        (ErrorCode Error, string? Message)[] outcomes = topics.Create(requests, create.validateOnly);
        for (int i = 0; i < outcomes.Length; i++)
        {
            CreateTopicsResponse.CreatableTopicResult result = results[i];
            result.ErrorCode = (short)outcomes[i].Error;
            result.ErrorMessage = outcomes[i].Message;
            if (outcomes[i].Error != ErrorCode.None)
            {
                result.NumPartitions = result.ReplicationFactor = -1;
            }
            else if (context.Version >= 5 && authorizer?.Check(context, AclOperation.DescribeConfigs, AclResourceType.Topic, result.Name) is { } hidden)
            {
                result.TopicConfigErrorCode = (short)hidden; // created, but its configs are not the principal's to see
                result.TopicId = topics.Get(result.Name)?.Id ?? Guid.Empty;
            }
            else if (context.Version >= 5)
            {
                AddConfigs(result, requests[i].Configs, create.validateOnly ? null : topics.Get(result.Name));
            }
        }

        return ValueTask.FromResult<CreateTopicsResponse?>(response);
    }

    /// <summary>v5+: every config the topic has (as DescribeConfigs shows them); v7: its id. Before creation (validate_only) from the request.</summary>
    private void AddConfigs(CreateTopicsResponse.CreatableTopicResult result, IReadOnlyDictionary<string, string?> requested, Topic? created)
    {
        result.TopicId = created?.Id ?? Guid.Empty;
        LogConfig config = topics.Defaults;
        if (created is null)
        {
            foreach ((string name, string? value) in requested)
            {
                TopicConfigs.TryApply(config, name, value, out config, out _); // already checked by the registry
            }
        }

        foreach (string name in TopicConfigs.Names)
        {
            bool overridden = created is not null ? created.Overrides.ContainsKey(name) : requested.ContainsKey(name);
            string value = created is not null ? TopicConfigs.Value(created, name)
                : name == TopicConfigs.CompressionType && requested.TryGetValue(name, out string? stored) && stored is not null ? stored
                : TopicConfigs.Value(config, name);
            result.Configs!.Add(new CreateTopicsResponse.CreatableTopicConfigs
            {
                Name = name,
                Value = value,
                ReadOnly = false,
                ConfigSource = overridden ? DynamicTopicConfig : DefaultConfig,
                IsSensitive = false,
            });
        }
    }

    private const sbyte DynamicTopicConfig = 1;
    private const sbyte DefaultConfig = 5;

    private ErrorCode Check(CreateTopicsRequest.CreatableTopic topic, out int partitions, out Dictionary<string, string?>? configs, out string? message)
    {
        message = null;
        configs = null;
        partitions = 0;
        if (topic.ReplicationFactor is not (-1 or 1))
        {
            message = $"Replication factor {topic.ReplicationFactor} is larger than the 1 available broker.";
            return ErrorCode.InvalidReplicationFactor;
        }

        partitions = topic.NumPartitions == -1 ? options.NumPartitions : topic.NumPartitions;
        if (topic.Assignments.Count > 0)
        {
            if (topic.NumPartitions != -1 || topic.ReplicationFactor != -1)
            {
                message = "With explicit assignments, the partition count and replication factor must be -1.";
                return ErrorCode.InvalidRequest;
            }

            foreach (CreateTopicsRequest.CreatableReplicaAssignment assignment in topic.Assignments)
            {
                if (assignment.BrokerIds is not [var only] || only != cluster.NodeId || (uint)assignment.PartitionIndex >= (uint)topic.Assignments.Count)
                {
                    message = $"Partition {assignment.PartitionIndex} must be assigned to broker {cluster.NodeId} only.";
                    return ErrorCode.InvalidReplicaAssignment;
                }
            }

            partitions = topic.Assignments.Count;
        }

        configs = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (CreateTopicsRequest.CreatableTopicConfig config in topic.Configs)
        {
            configs[config.Name] = config.Value;
        }

        return ErrorCode.None;
    }
}
