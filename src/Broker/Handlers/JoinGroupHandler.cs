using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// JoinGroup (key 11), versions 0–9 (v6 is v5, flexible; v7 answers the protocol type, v8 carries the client's reason, only logged by Kafka and ignored here; v9 tells a returning static leader to skip its assignor, KIP-814). The answer waits for the join phase to end (the connection keeps
/// serving other requests in order behind it). v4+ without an instance id gets MEMBER_ID_REQUIRED
/// first (KIP-394); v5 static members are supported.
/// </summary>
internal sealed class JoinGroupHandler(GroupCoordinator groups, Authorizer? authorizer = null, Cluster.GroupCoordinatorMap? coordinators = null) : RequestHandler<JoinGroupRequest, JoinGroupResponse>(ApiKey.JoinGroup, 0, 9)
{
    public override async ValueTask<JoinGroupResponse?> HandleAsync(RequestContext context, JoinGroupRequest request)
    {
        if (authorizer?.Check(context, AclOperation.Read, AclResourceType.Group, request.GroupId) is { } denied)
        {
            return new JoinGroupResponse { ErrorCode = (short)denied };
        }

        if (coordinators?.Refusal(request.GroupId) is { } refused)
        {
            return new JoinGroupResponse { ErrorCode = (short)refused, MemberId = request.MemberId, ProtocolName = "" }; // cluster mode: another broker coordinates it
        }

        JoinGroupResponse response = await groups.JoinAsync(request, context.Version, context.ClientId ?? "", context.Connection).ConfigureAwait(false);
        response.ProtocolName ??= ""; // nullable only from v7 (not served)
        return response;
    }
}
