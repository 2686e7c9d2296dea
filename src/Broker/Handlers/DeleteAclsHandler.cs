using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// DeleteAcls (key 31), versions 0–3: removes, durably, every ACL each filter matches and lists them (in cluster mode
/// from the cluster's ACLs, which every broker applies); needs Alter on the cluster.
/// </summary>
internal sealed class DeleteAclsHandler(AclStore store, Authorizer authorizer, Cluster.ClusterDocuments? cluster = null) : RequestHandler<DeleteAclsRequest, DeleteAclsResponse>(ApiKey.DeleteAcls, 0, 3)
{
    public override async ValueTask<DeleteAclsResponse?> HandleAsync(RequestContext context, DeleteAclsRequest request)
    {
        var response = new DeleteAclsResponse();
        bool allowed = authorizer.AuthorizeCluster(context, AclOperation.Alter);
        var filters = new List<AclFilter>();
        var filterResults = new List<DeleteAclsResponse.DeleteAclsFilterResult>();
        foreach (DeleteAclsRequest.DeleteAclsFilter f in request.Filters)
        {
            var result = new DeleteAclsResponse.DeleteAclsFilterResult { ErrorMessage = null };
            response.FilterResults.Add(result);
            var filter = new AclFilter((AclResourceType)f.ResourceTypeFilter, f.ResourceNameFilter, context.Version == 0 ? AclPatternType.Literal : (AclPatternType)f.PatternTypeFilter,
                f.PrincipalFilter, f.HostFilter, (AclOperation)f.Operation, (AclPermission)f.PermissionType);
            string? why = AclRequestEntry.Refusal(allowed, request.Filters.Count, filter.Invalid(), out ErrorCode error);
            if (why is not null)
            {
                result.ErrorCode = (short)error;
                result.ErrorMessage = why;
                continue;
            }

            filters.Add(filter);
            filterResults.Add(result);
        }

        if (filters.Count == 0)
        {
            return response;
        }

        try
        {
            List<List<AclBinding>> removed = await Cluster.ClusterDocuments.RunAsync(cluster, store, () => store.Remove(filters), context.Closing).ConfigureAwait(false);
            for (int i = 0; i < removed.Count; i++)
            {
                foreach (AclBinding b in removed[i])
                {
                    filterResults[i].MatchingAcls.Add(new DeleteAclsResponse.DeleteAclsMatchingAcl
                    {
                        ErrorMessage = null,
                        ResourceType = (sbyte)b.ResourceType,
                        ResourceName = b.ResourceName,
                        PatternType = (sbyte)b.PatternType,
                        Principal = b.Principal,
                        Host = b.Host,
                        Operation = (sbyte)b.Operation,
                        PermissionType = (sbyte)b.Permission,
                    });
                }
            }
        }
        catch (IOException e)
        {
            foreach (DeleteAclsResponse.DeleteAclsFilterResult r in filterResults)
            {
                r.ErrorCode = (short)ErrorCode.UnknownServerError;
                r.ErrorMessage = "The ACL file could not be written: " + e.Message;
            }
        }

        return response;
    }
}
