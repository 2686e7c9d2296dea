using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Producers;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// DeleteTopics (key 20), versions 0–6 (by name; v6 by name or by topic id; v5+ carry error messages).
/// Behaviour: the deletion is made durable first (a tombstone in the metadata log), then the topic
/// disappears from metadata and its partitions' directories are renamed aside and removed; a crash at
/// any point leaves the topic either fully there or fully gone (leftovers are deleted at start). Fetches
/// holding data keep their bytes until answered. Unknown name → UNKNOWN_TOPIC_OR_PARTITION, unknown id
/// → UNKNOWN_TOPIC_ID; a name or id given twice → INVALID_REQUEST (one answer for it); in v6 an entry
/// with both a name and an id, or neither, → INVALID_REQUEST, as Kafka's controller answers; a failure
/// to write the tombstone → KAFKA_STORAGE_ERROR and the topic stays.
/// </summary>
internal sealed class DeleteTopicsHandler(TopicRegistry topics, ProducerStates producers, Authorizer? authorizer = null, Cluster.ClusterTopicAdmin? clusterAdmin = null) : RequestHandler<DeleteTopicsRequest, DeleteTopicsResponse>(ApiKey.DeleteTopics, 0, 6)
{
    public override ValueTask<DeleteTopicsResponse?> HandleAsync(RequestContext context, DeleteTopicsRequest delete)
    {
        if (clusterAdmin is not null)
        {
            return clusterAdmin.DeleteTopicsAsync(context, delete); // cluster mode: the controller decides
        }

        var response = new DeleteTopicsResponse();
        var entries = new List<(string? Name, Guid Id)>(Math.Max(delete.TopicNames.Count, delete.Topics.Count));
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

        var counts = new Dictionary<(string?, Guid), int>(entries.Count);
        foreach ((string? name, Guid id) in entries)
        {
            counts[(id == Guid.Empty ? name : null, id)] = counts.GetValueOrDefault((id == Guid.Empty ? name : null, id)) + 1;
        }

        foreach ((string? name, Guid id) in entries)
        {
            if (name is not null && id != Guid.Empty)
            {
                response.Responses.Add(Result(name, id, ErrorCode.InvalidRequest, "You may not specify both topic name and topic id."));
                continue;
            }

            if (name is null && id == Guid.Empty)
            {
                response.Responses.Add(Result(null, id, ErrorCode.InvalidRequest, "Neither topic name nor id were specified."));
                continue;
            }

            (string?, Guid) key = (name, id);
            int count = counts[key];
            if (count == 0)
            {
                continue;
            }

            counts[key] = 0;
            if (count > 1)
            {
                response.Responses.Add(Result(name, id, ErrorCode.InvalidRequest, id == Guid.Empty ? "Duplicate topic name." : "Duplicate topic id."));
                continue;
            }

            Topic? topic = name is not null ? topics.Get(name) : topics.Get(id);
            if (name is null && topic is null)
            {
                response.Responses.Add(Result(null, id, ErrorCode.UnknownTopicId, "This server does not host this topic ID."));
                continue;
            }

            if (Refused(context, name, id, topic) is { } refused)
            {
                response.Responses.Add(refused);
                continue;
            }

            ErrorCode error = topics.Delete(name ?? topic!.Name, out string? message);
            if (error == ErrorCode.None && topic is not null)
            {
                foreach (Storage.PartitionLog log in topic.Partitions)
                {
                    producers.Forget(log);
                }
            }

            response.Responses.Add(Result(name ?? topic!.Name, topic?.Id ?? Guid.Empty, error, error == ErrorCode.None ? null : message));
        }

        return ValueTask.FromResult<DeleteTopicsResponse?>(response);
    }

    /// <summary>
    /// Kafka's checks, in its order: Delete on the cluster allows every topic; else without Describe on the
    /// topic the answer is TOPIC_AUTHORIZATION_FAILED whether it exists or not (asked by id, without its
    /// name); a topic that can be described but does not exist is left to the UNKNOWN_TOPIC_OR_PARTITION
    /// answer; without Delete on it, TOPIC_AUTHORIZATION_FAILED.
    /// </summary>
    private DeleteTopicsResponse.DeletableTopicResult? Refused(RequestContext context, string? name, Guid id, Topic? topic)
    {
        if (authorizer is not { Enabled: true } || authorizer.Allows(context, AclOperation.Delete, AclResourceType.Cluster, Authorizer.ClusterName))
        {
            return null;
        }

        string target = name ?? topic!.Name;
        if (authorizer.Check(context, AclOperation.Describe, AclResourceType.Topic, target) is { } hidden)
        {
            return Result(name, id, hidden, null);
        }

        return topic is not null && authorizer.Check(context, AclOperation.Delete, AclResourceType.Topic, target) is { } denied ? Result(target, id, denied, null) : null;
    }

    private static DeleteTopicsResponse.DeletableTopicResult Result(string? name, Guid id, ErrorCode error, string? message) =>
        new() { Name = name, TopicId = id, ErrorCode = (short)error, ErrorMessage = message };
}
