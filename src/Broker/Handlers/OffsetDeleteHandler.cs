using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// OffsetDelete (key 47), version 0: removes a group's committed offsets for some partitions; refused
/// (GROUP_SUBSCRIBED_TO_TOPIC) for topics the group's members are subscribed to; GROUP_ID_NOT_FOUND for
/// an unknown group.
/// </summary>
internal sealed class OffsetDeleteHandler(OffsetManager groups, Authorizer? authorizer = null, Cluster.GroupCoordinatorMap? coordinators = null) : RequestHandler<OffsetDeleteRequest, OffsetDeleteResponse>(ApiKey.OffsetDelete, 0, 0)
{
    public override ValueTask<OffsetDeleteResponse?> HandleAsync(RequestContext context, OffsetDeleteRequest delete)
    {
        if (GroupAccess.Refusal(context, authorizer, coordinators, AclOperation.Delete, delete.GroupId) is { } groupRefused)
        {
            return ValueTask.FromResult<OffsetDeleteResponse?>(new OffsetDeleteResponse { ErrorCode = (short)groupRefused });
        }

        // Kafka: Delete on the group, Read on each topic; a refused topic's partitions are answered without being deleted.
        var refused = delete.Topics.Where(t => authorizer?.Check(context, AclOperation.Read, AclResourceType.Topic, t.Name) is not null).Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        (ErrorCode error, var partitions) = groups.DeleteOffsets(delete.GroupId,
            [.. delete.Topics.Where(t => !refused.Contains(t.Name)).SelectMany(t => t.Partitions.Select(p => (t.Name, p)))]);
        if (error == ErrorCode.None)
        {
            partitions.AddRange(delete.Topics.Where(t => refused.Contains(t.Name)).SelectMany(t => t.Partitions.Select(p => (t.Name, p, ErrorCode.TopicAuthorizationFailed))));
        }

        var response = new OffsetDeleteResponse { ErrorCode = (short)error };
        foreach (var byTopic in partitions.GroupBy(p => p.Topic))
        {
            response.Topics.Add(new OffsetDeleteResponse.OffsetDeleteResponseTopic
            {
                Name = byTopic.Key,
                Partitions = [.. byTopic.Select(p => (p.Partition, (short)p.Error))],
            });
        }

        return ValueTask.FromResult<OffsetDeleteResponse?>(response);
    }
}
