using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// CreateAcls (key 30), versions 0–3: stores each valid binding durably before answering (in cluster mode, in the
/// cluster's ACLs, which every broker applies); needs Alter on the cluster.
/// </summary>
internal sealed class CreateAclsHandler(AclStore store, Authorizer authorizer, Cluster.ClusterDocuments? cluster = null) : RequestHandler<CreateAclsRequest, CreateAclsResponse>(ApiKey.CreateAcls, 0, 3)
{
    public override async ValueTask<CreateAclsResponse?> HandleAsync(RequestContext context, CreateAclsRequest request)
    {
        var response = new CreateAclsResponse();
        (List<AclBinding> valid, List<CreateAclsResponse.AclCreationResult> validResults) = AclRequestEntry.Admit(
            authorizer.AuthorizeCluster(context, AclOperation.Alter), request.Creations, c => Binding(c, context.Version), binding => binding.Invalid(),
            response.Results, () => new CreateAclsResponse.AclCreationResult { ErrorMessage = null }, Refuse);
        if (valid.Count > 0)
        {
            try
            {
                if (!await Cluster.ClusterDocuments.RunAsync(cluster, store, () => store.Add(valid), context.Closing).ConfigureAwait(false))
                {
                    validResults.ForEach(r => Refuse(r, ErrorCode.UnknownServerError, $"The broker holds at most {AclStore.MaxAcls} ACLs."));
                }
            }
            catch (IOException e)
            {
                validResults.ForEach(r => Refuse(r, ErrorCode.UnknownServerError, "The ACL file could not be written: " + e.Message));
            }
        }

        return response;
    }

    /// <summary>The binding a creation asks for; v0 has no pattern type, so its bindings are literal.</summary>
    private static AclBinding Binding(CreateAclsRequest.AclCreation c, short version) =>
        new((AclResourceType)c.ResourceType, c.ResourceName, version == 0 ? AclPatternType.Literal : (AclPatternType)c.ResourcePatternType,
            c.Principal, c.Host, (AclOperation)c.Operation, (AclPermissionType)c.PermissionType);

    private static void Refuse(CreateAclsResponse.AclCreationResult result, ErrorCode error, string why)
    {
        result.ErrorCode = (short)error;
        result.ErrorMessage = why;
    }
}
