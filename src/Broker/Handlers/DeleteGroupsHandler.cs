using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>DeleteGroups (key 42), versions 0–2: an empty group and its offsets go; a group with members gets NON_EMPTY_GROUP.</summary>
internal sealed class DeleteGroupsHandler(OffsetManager groups, Authorizer? authorizer = null, Cluster.GroupCoordinatorMap? coordinators = null) : RequestHandler<DeleteGroupsRequest, DeleteGroupsResponse>(ApiKey.DeleteGroups, 0, 2)
{
    public override ValueTask<DeleteGroupsResponse?> HandleAsync(RequestContext context, DeleteGroupsRequest delete)
    {
        var response = new DeleteGroupsResponse();
        foreach (string id in delete.GroupsNames)
        {
            response.Results.Add(new DeleteGroupsResponse.DeletableGroupResult { GroupId = id, ErrorCode = (short)(GroupAccess.Refusal(context, authorizer, coordinators, AclOperation.Delete, id) ?? groups.DeleteGroup(id)) });
        }

        return ValueTask.FromResult<DeleteGroupsResponse?>(response);
    }

}
