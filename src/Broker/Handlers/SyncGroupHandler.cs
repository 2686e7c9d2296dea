using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>SyncGroup (key 14), versions 0–5 (v4 is v3, flexible; v5 carries the protocol type and name, checked against the group's: INCONSISTENT_GROUP_PROTOCOL): followers wait for the leader's assignments.</summary>
internal sealed class SyncGroupHandler(GroupCoordinator groups, Authorizer? authorizer = null, Cluster.GroupCoordinatorMap? coordinators = null) : RequestHandler<SyncGroupRequest, SyncGroupResponse>(ApiKey.SyncGroup, 0, 5)
{
    public override async ValueTask<SyncGroupResponse?> HandleAsync(RequestContext context, SyncGroupRequest request) =>
        GroupAccess.Refusal(context, authorizer, coordinators, AclOperation.Read, request.GroupId) is { } refused
            ? new SyncGroupResponse { ErrorCode = (short)refused }
            : await groups.SyncAsync(request).ConfigureAwait(false);
}
