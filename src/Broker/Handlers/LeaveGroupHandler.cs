using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>LeaveGroup (key 13), versions 0–5 (v3: several members, per-member errors; v4 flexible; v5 a reason per member, informational).</summary>
internal sealed class LeaveGroupHandler(GroupCoordinator groups, Authorizer? authorizer = null, Cluster.GroupCoordinatorMap? coordinators = null) : RequestHandler<LeaveGroupRequest, LeaveGroupResponse>(ApiKey.LeaveGroup, 0, 5)
{
    public override ValueTask<LeaveGroupResponse?> HandleAsync(RequestContext context, LeaveGroupRequest leave)
    {
        if (GroupAccess.Refusal(context, authorizer, coordinators, AclOperation.Read, leave.GroupId) is { } refused)
        {
            return ValueTask.FromResult<LeaveGroupResponse?>(new LeaveGroupResponse { ErrorCode = (short)refused });
        }

        IEnumerable<(string, string?)> leaving = context.Version >= 3
            ? leave.Members.Select(m => (m.MemberId, m.GroupInstanceId))
            : [(leave.MemberId, null)];
        var results = groups.Leave(leave.GroupId, leaving);
        var response = new LeaveGroupResponse();
        if (context.Version >= 3)
        {
            foreach ((string memberId, string? instanceId, ErrorCode error) in results)
            {
                response.Members.Add(new LeaveGroupResponse.MemberResponse { MemberId = memberId, GroupInstanceId = instanceId, ErrorCode = (short)error });
            }
        }
        else
        {
            response.ErrorCode = (short)results[0].Error;
        }

        return ValueTask.FromResult<LeaveGroupResponse?>(response);
    }
}
