using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// OffsetDelete (key 47), version 0: removes a group's committed offsets for some partitions; refused
/// (GROUP_SUBSCRIBED_TO_TOPIC) for topics the group's members are subscribed to; GROUP_ID_NOT_FOUND for
/// an unknown group.
/// </summary>
internal sealed class OffsetDeleteHandler(OffsetManager groups) : RequestHandler<OffsetDeleteRequest, OffsetDeleteResponse>
{
    public override ApiKey Key => ApiKey.OffsetDelete;

    public override short MinVersion => 0;

    public override short MaxVersion => 0;

    public override ValueTask<OffsetDeleteResponse?> HandleAsync(RequestContext context, OffsetDeleteRequest delete)
    {
        (ErrorCode error, var partitions) = groups.DeleteOffsets(delete.GroupId,
            [.. delete.Topics.SelectMany(t => t.Partitions.Select(p => (t.Name, p)))]);
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
