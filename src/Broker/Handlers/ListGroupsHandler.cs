using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// ListGroups (key 16), versions 0–5: classic and server-side groups, each once, filtered by state (v4)
/// and type (v5: "classic", "consumer").
/// </summary>
internal sealed class ListGroupsHandler(OffsetManager groups, Authorizer? authorizer = null) : RequestHandler<ListGroupsRequest, ListGroupsResponse>(ApiKey.ListGroups, 0, 5)
{
    public override ValueTask<ListGroupsResponse?> HandleAsync(RequestContext context, ListGroupsRequest list)
    {
        var response = new ListGroupsResponse();
        bool all = authorizer is null || authorizer.Allows(context, AclOperation.Describe, AclResourceType.Cluster, Authorizer.ClusterName); // else only the groups the principal may describe, as Kafka
        foreach ((string id, string state, string protocolType, string type) in groups.List())
        {
            bool stateOk = list.StatesFilter.Count == 0 || list.StatesFilter.Contains(state, StringComparer.OrdinalIgnoreCase);
            bool typeOk = list.TypesFilter.Count == 0 || list.TypesFilter.Contains(type, StringComparer.OrdinalIgnoreCase);
            if (stateOk && typeOk && (all || authorizer!.Allows(context, AclOperation.Describe, AclResourceType.Group, id)))
            {
                response.Groups.Add(new ListGroupsResponse.ListedGroup { GroupId = id, ProtocolType = protocolType, GroupState = state, GroupType = type });
            }
        }

        return ValueTask.FromResult<ListGroupsResponse?>(response);
    }
}
