using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

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
        (List<AclFilter> filters, List<DeleteAclsResponse.DeleteAclsFilterResult> filterResults) = AclRequestEntry.Admit(
            authorizer.AuthorizeCluster(context, AclOperation.Alter), request.Filters, f => Filter(f, context.Version), filter => filter.Invalid(),
            response.FilterResults, () => new DeleteAclsResponse.DeleteAclsFilterResult { ErrorMessage = null }, Refuse);
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
            filterResults.ForEach(r => Refuse(r, ErrorCode.UnknownServerError, "The ACL file could not be written: " + e.Message));
        }

        return response;
    }

    /// <summary>The filter an entry asks for; v0 has no pattern type filter, so its filters match literal bindings.</summary>
    private static AclFilter Filter(DeleteAclsRequest.DeleteAclsFilter f, short version) =>
        new((AclResourceType)f.ResourceTypeFilter, f.ResourceNameFilter, version == 0 ? AclPatternType.Literal : (AclPatternType)f.PatternTypeFilter,
            f.PrincipalFilter, f.HostFilter, (AclOperation)f.Operation, (AclPermissionType)f.PermissionType);

    private static void Refuse(DeleteAclsResponse.DeleteAclsFilterResult result, ErrorCode error, string why)
    {
        result.ErrorCode = (short)error;
        result.ErrorMessage = why;
    }
}
