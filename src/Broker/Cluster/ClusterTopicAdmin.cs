using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using LogBroker.Storage;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// CreateTopics, DeleteTopics and CreatePartitions in cluster mode: decided by the controller, never by the
/// local registry (topics reach every hosting broker's registry through <see cref="TopicMaterializer"/>, a
/// moment after the answer, as in Kafka). On the controller broker each topic is one fenced
/// <see cref="ClusterController"/> transaction; on any other broker every topic gets NOT_CONTROLLER, which
/// makes Kafka clients refresh Metadata and send it to the controller named there. A controller deposed
/// during the call (its write fenced) answers NOT_CONTROLLER too.
/// Checks, as the single-node handlers: a name given twice → INVALID_REQUEST; invalid or reserved name →
/// INVALID_TOPIC_EXCEPTION; partitions -1 → <see cref="BrokerOptions.NumPartitions"/>, outside 1 to
/// <see cref="BrokerOptions.MaxPartitionsPerTopic"/> → INVALID_PARTITIONS; more than
/// <see cref="BrokerOptions.MaxPartitionsPerRequest"/> in all → POLICY_VIOLATION; replication factor -1 →
/// <see cref="ClusterOptions.DefaultReplicationFactor"/>, below 1 or above the registered brokers →
/// INVALID_REPLICATION_FACTOR; explicit assignments (partitions and factor then -1) must name distinct
/// registered brokers, as many per partition → INVALID_REPLICA_ASSIGNMENT; a config LogBroker does not honour
/// → INVALID_CONFIG; validate_only checks without writing.
/// </summary>
internal sealed class ClusterTopicAdmin(ClusterService cluster, ClusterOptions clusterOptions, BrokerOptions options, TopicRegistry topics, Authorizer? authorizer = null)
{
    private const sbyte DynamicTopicConfig = 1;
    private const sbyte DefaultConfig = 5;

    public async ValueTask<CreateTopicsResponse?> CreateTopicsAsync(RequestContext context, CreateTopicsRequest create)
    {
        var response = new CreateTopicsResponse();
        var counts = CountNames(create.Topics, t => t.Name);
        long total = 0;
        foreach (CreateTopicsRequest.CreatableTopic topic in create.Topics)
        {
            total += topic.Assignments.Count > 0 ? topic.Assignments.Count : Math.Max(topic.NumPartitions == -1 ? options.NumPartitions : topic.NumPartitions, 0);
        }

        var controller = cluster.Controller;
        foreach (CreateTopicsRequest.CreatableTopic topic in create.Topics)
        {
            if (counts[topic.Name] is var count && count == 0)
            {
                continue;
            }

            counts[topic.Name] = 0;
            var result = new CreateTopicsResponse.CreatableTopicResult { Name = topic.Name, ErrorMessage = null };
            response.Topics.Add(result);
            (ErrorCode error, string? message) = count > 1 ? (ErrorCode.InvalidRequest, "Duplicate topic name.")
                : authorizer?.CheckClusterOr(context, AclOperation.Create, AclResourceType.Topic, topic.Name) is { } denied ? (denied, "Authorization failed.") // Create on the cluster or the topic
                : controller is null ? NotController()
                : total > options.MaxPartitionsPerRequest ? (ErrorCode.PolicyViolation,
                    $"Excessively large number of partitions per request: {total} requested, limit {options.MaxPartitionsPerRequest} (Broker:MaxPartitionsPerRequest).")
                : (ErrorCode.None, null);
            if (error == ErrorCode.None)
            {
                (error, message) = await CreateAsync(context, controller!, topic, create.validateOnly, result).ConfigureAwait(false);
            }

            result.ErrorCode = (short)error;
            result.ErrorMessage = message;
            if (error != ErrorCode.None)
            {
                result.NumPartitions = result.ReplicationFactor = -1;
                result.Configs?.Clear();
            }
        }

        return response;
    }

    private async Task<(ErrorCode, string?)> CreateAsync(
        RequestContext context, ClusterController controller, CreateTopicsRequest.CreatableTopic topic, bool validateOnly, CreateTopicsResponse.CreatableTopicResult result)
    {
        if (!Storage.TopicPartition.IsValidTopicName(topic.Name) || TopicRegistry.IsInternal(topic.Name))
        {
            return (ErrorCode.InvalidTopicException, $"'{Shorten(topic.Name)}' is not a valid topic name, or is reserved.");
        }

        List<IReadOnlyList<int>>? assignment = null;
        int partitions = topic.NumPartitions == -1 ? options.NumPartitions : topic.NumPartitions;
        int factor = topic.ReplicationFactor == -1 ? clusterOptions.DefaultReplicationFactor : topic.ReplicationFactor;
        if (topic.Assignments.Count > 0)
        {
            if (topic.NumPartitions != -1 || topic.ReplicationFactor != -1)
            {
                return (ErrorCode.InvalidRequest, "With explicit assignments, the partition count and replication factor must be -1.");
            }

            var byIndex = new List<int>[topic.Assignments.Count];
            foreach (CreateTopicsRequest.CreatableReplicaAssignment a in topic.Assignments)
            {
                if ((uint)a.PartitionIndex >= (uint)byIndex.Length || byIndex[a.PartitionIndex] is not null)
                {
                    return (ErrorCode.InvalidReplicaAssignment, "Partitions must be numbered 0 to n-1, each once.");
                }

                byIndex[a.PartitionIndex] = a.BrokerIds;
            }

            assignment = [.. byIndex];
            partitions = byIndex.Length;
            factor = byIndex[0].Count;
        }

        if (partitions < 1 || partitions > options.MaxPartitionsPerTopic)
        {
            return (ErrorCode.InvalidPartitions, $"The number of partitions must be between 1 and {options.MaxPartitionsPerTopic} (Broker:MaxPartitionsPerTopic).");
        }

        if (assignment is null && (factor < 1 || factor > cluster.Cache.Brokers.Count))
        {
            return (ErrorCode.InvalidReplicationFactor, $"Replication factor {factor} is not between 1 and the {cluster.Cache.Brokers.Count} registered brokers.");
        }

        LogConfig config = topics.Defaults;
        var configs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (CreateTopicsRequest.CreatableTopicConfig c in topic.Configs)
        {
            if (!TopicConfigs.TryApply(config, c.Name, c.Value, out config, out string? why))
            {
                return (ErrorCode.InvalidConfig, why);
            }

            if (c.Value is not null)
            {
                configs[c.Name] = c.Value;
            }
        }

        var (outcome, record) = await controller.CreateTopicAsync(
            topic.Name, partitions, factor, assignment, configs, validateOnly, Random.Shared.Next(1024), CancellationToken.None).ConfigureAwait(false);
        if (outcome != ControllerResult.Ok)
        {
            return Error(outcome, topic.Name);
        }

        result.NumPartitions = record!.Partitions;
        result.ReplicationFactor = (short)record.ReplicationFactor;
        result.TopicId = validateOnly ? Guid.Empty : record.TopicId;
        if (context.Version >= 5)
        {
            foreach (string name in TopicConfigs.Names)
            {
                result.Configs!.Add(new CreateTopicsResponse.CreatableTopicConfigs
                {
                    Name = name,
                    Value = name == TopicConfigs.CompressionType && configs.TryGetValue(name, out string? stored) ? stored : TopicConfigs.Value(config, name),
                    ConfigSource = configs.ContainsKey(name) ? DynamicTopicConfig : DefaultConfig,
                });
            }
        }

        return (ErrorCode.None, null);
    }

    public async ValueTask<DeleteTopicsResponse?> DeleteTopicsAsync(RequestContext context, DeleteTopicsRequest delete)
    {
        var response = new DeleteTopicsResponse();
        var entries = new List<(string? Name, Guid Id)>();
        if (context.Version >= 6)
        {
            foreach (DeleteTopicsRequest.DeleteTopicState topic in delete.Topics)
            {
                entries.Add((topic.Name, topic.TopicId));
            }
        }
        else
        {
            foreach (string name in delete.TopicNames)
            {
                entries.Add((name, Guid.Empty));
            }
        }

        var counts = CountNames(entries, e => e.Id == Guid.Empty ? "n:" + e.Name : "i:" + e.Id.ToString());
        var controller = cluster.Controller;
        foreach ((string? name, Guid id) in entries)
        {
            string key = id == Guid.Empty ? "n:" + name : "i:" + id.ToString();
            if (counts[key] is var count && count == 0)
            {
                continue;
            }

            counts[key] = 0;
            string? resolved = name ?? cluster.Cache.Topic(id)?.Name;
            (ErrorCode error, string? message) = name is not null && id != Guid.Empty ? (ErrorCode.InvalidRequest, "You may not specify both topic name and topic id.")
                : name is null && id == Guid.Empty ? (ErrorCode.InvalidRequest, "Neither topic name nor id were specified.")
                : count > 1 ? (ErrorCode.InvalidRequest, id == Guid.Empty ? "Duplicate topic name." : "Duplicate topic id.")
                : DeleteRefused(context, resolved, AclOperation.Describe) is { } hidden ? (hidden, "Authorization failed.")
                : controller is null ? NotController()
                : resolved is null ? (ErrorCode.UnknownTopicId, "This server does not host this topic ID.")
                : DeleteRefused(context, resolved, AclOperation.Delete) is { } denied ? (denied, "Authorization failed.")
                : TopicRegistry.IsInternal(resolved) ? (ErrorCode.InvalidTopicException, $"'{resolved}' is the broker's own topic.")
                : Error(await controller.DeleteTopicAsync(resolved, CancellationToken.None).ConfigureAwait(false), resolved);
            response.Responses.Add(new DeleteTopicsResponse.DeletableTopicResult
            {
                Name = resolved,
                TopicId = id != Guid.Empty ? id : (resolved is null ? null : cluster.Cache.Topic(resolved)?.TopicId) ?? Guid.Empty,
                ErrorCode = (short)error,
                ErrorMessage = message,
            });
        }

        return response;
    }

    public async ValueTask<CreatePartitionsResponse?> CreatePartitionsAsync(RequestContext context, CreatePartitionsRequest create)
    {
        var response = new CreatePartitionsResponse();
        var counts = CountNames(create.Topics, t => t.Name);
        var controller = cluster.Controller;
        foreach (CreatePartitionsRequest.CreatePartitionsTopic topic in create.Topics)
        {
            if (counts[topic.Name] is var count && count == 0)
            {
                continue;
            }

            counts[topic.Name] = 0;
            List<IReadOnlyList<int>>? assignment = null;
            if (topic.Assignments is { Count: > 0 } given)
            {
                assignment = [];
                foreach (CreatePartitionsRequest.CreatePartitionsAssignment a in given)
                {
                    assignment.Add(a.BrokerIds);
                }
            }

            (ErrorCode error, string? message) = count > 1 ? (ErrorCode.InvalidRequest, "Duplicate topic in request.")
                : authorizer?.Check(context, AclOperation.Alter, AclResourceType.Topic, topic.Name) is { } denied ? (denied, "Authorization failed.") // Alter on the topic
                : controller is null ? NotController()
                : cluster.Cache.Topic(topic.Name) is { } existing && topic.Count - existing.Partitions > options.MaxPartitionsPerRequest
                    ? (ErrorCode.PolicyViolation, $"Excessively large number of partitions per request (limit {options.MaxPartitionsPerRequest}, Broker:MaxPartitionsPerRequest).")
                : topic.Count > options.MaxPartitionsPerTopic
                    ? (ErrorCode.InvalidPartitions, $"The new count must be at most {options.MaxPartitionsPerTopic} (Broker:MaxPartitionsPerTopic).")
                : TopicRegistry.IsInternal(topic.Name) ? (ErrorCode.InvalidTopicException, $"'{topic.Name}' is the broker's own topic.")
                : Error(await controller.CreatePartitionsAsync(topic.Name, topic.Count, assignment, create.ValidateOnly, Random.Shared.Next(1024), CancellationToken.None)
                    .ConfigureAwait(false), topic.Name);
            response.Results.Add(new CreatePartitionsResponse.CreatePartitionsTopicResult { Name = topic.Name, ErrorCode = (short)error, ErrorMessage = message });
        }

        return response;
    }

    // DeleteTopics' rule, as the single-node handler applies it: Delete on the cluster allows every topic; else a
    // topic the principal may not Describe is refused whether it exists or not (by id, an unknown id included),
    // and one it may describe needs Delete on it.
    private ErrorCode? DeleteRefused(RequestContext context, string? topic, AclOperation operation) =>
        authorizer is not { Enabled: true } || authorizer.Allows(context, AclOperation.Delete, AclResourceType.Cluster, Authorizer.ClusterName) ? null
        : topic is null ? (operation == AclOperation.Describe ? ErrorCode.TopicAuthorizationFailed : null)
        : authorizer.Check(context, operation, AclResourceType.Topic, topic);

    private (ErrorCode, string?) NotController() =>
        (ErrorCode.NotController, $"Broker {cluster.BrokerId} is not the controller (the controller is {cluster.Cache.ControllerId}).");

    private (ErrorCode, string?) Error(ControllerResult result, string topic) => result switch
    {
        ControllerResult.Ok => (ErrorCode.None, null),
        ControllerResult.TopicExists => (ErrorCode.TopicAlreadyExists, $"Topic '{topic}' already exists."),
        ControllerResult.UnknownTopic => (ErrorCode.UnknownTopicOrPartition, $"Topic '{topic}' does not exist."),
        ControllerResult.InvalidReplicationFactor => (ErrorCode.InvalidReplicationFactor, $"More replicas than the {cluster.Cache.Brokers.Count} registered brokers."),
        ControllerResult.InvalidReplicaAssignment => (ErrorCode.InvalidReplicaAssignment, "Each partition needs distinct, registered brokers, as many as the others."),
        ControllerResult.InvalidPartitions => (ErrorCode.InvalidPartitions, $"Topic '{topic}': the new partition count must be larger than the current one."),
        _ => (ErrorCode.NotController, "The controller was replaced during the request (or the topic changed under it); retry."),
    };

    private static Dictionary<string, int> CountNames<T>(IEnumerable<T> items, Func<T, string> key)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (T item in items)
        {
            counts[key(item)] = counts.GetValueOrDefault(key(item)) + 1;
        }

        return counts;
    }

    private static string Shorten(string name) => name.Length <= 300 ? name : string.Concat(name.AsSpan(0, 300), "...");
}
