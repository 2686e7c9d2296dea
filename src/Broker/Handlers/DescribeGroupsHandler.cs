using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// DescribeGroups (key 15), versions 0–5: state, protocol, and each member with its metadata and
/// assignment. A group id named twice is described once.
/// </summary>
internal sealed class DescribeGroupsHandler(GroupCoordinator groups, Authorizer? authorizer = null, Cluster.GroupCoordinatorMap? coordinators = null) : RequestHandler<DescribeGroupsRequest, DescribeGroupsResponse>(ApiKey.DescribeGroups, 0, 5)
{
    public override ValueTask<DescribeGroupsResponse?> HandleAsync(RequestContext context, DescribeGroupsRequest request)
    {
        var response = new DescribeGroupsResponse();
        foreach (string id in Duplicates.Once(request.Groups))
        {
            Protocol.ErrorCode? refused = GroupAccess.Refusal(context, authorizer, coordinators, AclOperation.Describe, id);
            response.Groups.Add(refused is { } error
                ? new DescribeGroupsResponse.DescribedGroup { GroupId = id, ErrorCode = (short)error }
                : groups.Describe(id));
        }

        return ValueTask.FromResult<DescribeGroupsResponse?>(response);
    }
}
