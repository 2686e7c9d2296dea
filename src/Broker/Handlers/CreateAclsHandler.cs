using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

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
        bool allowed = authorizer.AuthorizeCluster(context, AclOperation.Alter);
        var valid = new List<AclBinding>();
        var validResults = new List<CreateAclsResponse.AclCreationResult>();
        foreach (CreateAclsRequest.AclCreation c in request.Creations)
        {
            var result = new CreateAclsResponse.AclCreationResult { ErrorMessage = null };
            response.Results.Add(result);
            var binding = new AclBinding((AclResourceType)c.ResourceType, c.ResourceName, context.Version == 0 ? AclPatternType.Literal : (AclPatternType)c.ResourcePatternType,
                c.Principal, c.Host, (AclOperation)c.Operation, (AclPermission)c.PermissionType);
            string? why = AclRequestEntry.Refusal(allowed, request.Creations.Count, binding.Invalid(), out ErrorCode error);
            if (why is not null)
            {
                result.ErrorCode = (short)error;
                result.ErrorMessage = why;
                continue;
            }

            valid.Add(binding);
            validResults.Add(result);
        }

        if (valid.Count > 0)
        {
            string? failure = null;
            try
            {
                if (!await Cluster.ClusterDocuments.RunAsync(cluster, store, () => store.Add(valid), context.Closing).ConfigureAwait(false))
                {
                    failure = $"The broker holds at most {AclStore.MaxAcls} ACLs.";
                }
            }
            catch (IOException e)
            {
                failure = "The ACL file could not be written: " + e.Message;
            }

            if (failure is not null)
            {
                foreach (CreateAclsResponse.AclCreationResult r in validResults)
                {
                    r.ErrorCode = (short)ErrorCode.UnknownServerError;
                    r.ErrorMessage = failure;
                }
            }
        }

        return response;
    }
}
