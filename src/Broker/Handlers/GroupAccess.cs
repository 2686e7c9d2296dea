using LogBroker.Broker.Cluster;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>The gate of every request that names a group, in Kafka's order.</summary>
internal static class GroupAccess
{
    /// <summary>
    /// The first refusal for <paramref name="groupId"/>: the ACL check of <paramref name="operation"/> on the group
    /// (GROUP_AUTHORIZATION_FAILED), then, in cluster mode, NOT_COORDINATOR when another broker coordinates it;
    /// null when the request may go on.
    /// </summary>
    public static ErrorCode? Refusal(RequestContext context, Authorizer? authorizer, GroupCoordinatorMap? coordinators, AclOperation operation, string groupId) =>
        authorizer?.Check(context, operation, AclResourceType.Group, groupId) ?? coordinators?.Refusal(groupId);
}
