using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>DeleteGroups (key 42), versions 0–2: an empty group and its offsets go; a group with members gets NON_EMPTY_GROUP.</summary>
internal sealed class DeleteGroupsHandler(GroupCoordinator groups) : IRequestHandler
{
    public ApiKey Key => ApiKey.DeleteGroups;

    public short MinVersion => 0;

    public short MaxVersion => 2;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var delete = (DeleteGroupsRequest)request;
        var response = new DeleteGroupsResponse();
        foreach (string id in delete.GroupsNames)
        {
            response.Results.Add(new DeleteGroupsResponse.DeletableGroupResult { GroupId = id, ErrorCode = (short)groups.Delete(id) });
        }

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }
}
