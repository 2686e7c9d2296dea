using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>ConsumerGroupDescribe (key 69), version 0: server-side groups with members, epochs, assignments and targets.</summary>
internal sealed class ConsumerGroupDescribeHandler(ConsumerGroupCoordinator groups, Authorizer? authorizer = null, Cluster.GroupCoordinatorMap? coordinators = null) : RequestHandler<ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse>(ApiKey.ConsumerGroupDescribe, 0, 0)
{
    public override ValueTask<ConsumerGroupDescribeResponse?> HandleAsync(RequestContext context, ConsumerGroupDescribeRequest request)
    {
        var response = new ConsumerGroupDescribeResponse();
        foreach (string id in Duplicates.Once(request.GroupIds))
        {
            response.Groups.Add(GroupAccess.Refusal(context, authorizer, coordinators, AclOperation.Describe, id) is { } refused
                ? new ConsumerGroupDescribeResponse.DescribedGroup { GroupId = id, ErrorCode = (short)refused }
                : groups.Describe(id)); // a group named twice is described once
        }

        return ValueTask.FromResult<ConsumerGroupDescribeResponse?>(response);
    }
}
