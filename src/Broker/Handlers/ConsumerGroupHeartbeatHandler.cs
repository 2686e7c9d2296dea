using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// ConsumerGroupHeartbeat (key 68), versions 0–1: the server-side group protocol (KIP-848) —
/// join (epoch 0), heartbeat, leave (epoch -1/-2), subscriptions by names or regex (v1), and the
/// broker's own assignment reconciled member by member (<see cref="ConsumerGroupCoordinator"/>).
/// </summary>
internal sealed class ConsumerGroupHeartbeatHandler(ConsumerGroupCoordinator groups, Authorizer? authorizer = null, Cluster.GroupCoordinatorMap? coordinators = null) : RequestHandler<ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 0, 1)
{
    public override ValueTask<ConsumerGroupHeartbeatResponse?> HandleAsync(RequestContext context, ConsumerGroupHeartbeatRequest request) =>
        ValueTask.FromResult<ConsumerGroupHeartbeatResponse?>(GroupAccess.Refusal(context, authorizer, coordinators, AclOperation.Read, request.GroupId) is { } refused
            ? new ConsumerGroupHeartbeatResponse { ErrorCode = (short)refused }
            : groups.Heartbeat(request, context.ClientId ?? "", context.Connection));
}
