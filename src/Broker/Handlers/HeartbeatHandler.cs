using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>Heartbeat (key 12), versions 0–4 (v4 is v3, flexible).</summary>
internal sealed class HeartbeatHandler(GroupCoordinator groups, Authorizer? authorizer = null, Cluster.GroupCoordinatorMap? coordinators = null) : RequestHandler<HeartbeatRequest, HeartbeatResponse>(ApiKey.Heartbeat, 0, 4)
{
    public override ValueTask<HeartbeatResponse?> HandleAsync(RequestContext context, HeartbeatRequest heartbeat)
    {
        ErrorCode error = GroupAccess.Refusal(context, authorizer, coordinators, AclOperation.Read, heartbeat.GroupId) ?? groups.Heartbeat(heartbeat.GroupId, heartbeat.MemberId, heartbeat.GroupInstanceId, heartbeat.GenerationId);
        return ValueTask.FromResult<HeartbeatResponse?>(new HeartbeatResponse { ErrorCode = (short)error });
    }
}
