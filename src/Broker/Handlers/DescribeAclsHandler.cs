using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>DescribeAcls (key 29), versions 0–3: the ACLs a filter matches, grouped by resource pattern; needs Describe on the cluster.</summary>
internal sealed class DescribeAclsHandler(AclStore store, Authorizer authorizer) : RequestHandler<DescribeAclsRequest, DescribeAclsResponse>(ApiKey.DescribeAcls, 0, 3)
{
    public override ValueTask<DescribeAclsResponse?> HandleAsync(RequestContext context, DescribeAclsRequest request)
    {
        var response = new DescribeAclsResponse { ErrorMessage = null };
        var filter = new AclFilter((AclResourceType)request.ResourceTypeFilter, request.ResourceNameFilter,
            context.Version == 0 ? AclPatternType.Literal : (AclPatternType)request.PatternTypeFilter, request.PrincipalFilter, request.HostFilter,
            (AclOperation)request.Operation, (AclPermissionType)request.PermissionType);
        if (!authorizer.AuthorizeCluster(context, AclOperation.Describe))
        {
            response.ErrorCode = (short)ErrorCode.ClusterAuthorizationFailed;
            response.ErrorMessage = "Describe on the cluster is required.";
        }
        else if (filter.Invalid() is { } why)
        {
            response.ErrorCode = (short)ErrorCode.InvalidRequest;
            response.ErrorMessage = why;
        }
        else
        {
            var byPattern = new Dictionary<(AclResourceType, string, AclPatternType), DescribeAclsResponse.DescribeAclsResource>();
            foreach (AclBinding b in store.Snapshot)
            {
                if (!filter.Matches(b))
                {
                    continue;
                }

                if (!byPattern.TryGetValue((b.ResourceType, b.ResourceName, b.PatternType), out DescribeAclsResponse.DescribeAclsResource? resource))
                {
                    resource = new DescribeAclsResponse.DescribeAclsResource { ResourceType = (sbyte)b.ResourceType, ResourceName = b.ResourceName, PatternType = (sbyte)b.PatternType };
                    byPattern.Add((b.ResourceType, b.ResourceName, b.PatternType), resource);
                    response.Resources.Add(resource);
                }

                resource.Acls.Add(new DescribeAclsResponse.AclDescription { Principal = b.Principal, Host = b.Host, Operation = (sbyte)b.Operation, PermissionType = (sbyte)b.Permission });
            }
        }

        return ValueTask.FromResult<DescribeAclsResponse?>(response);
    }
}
