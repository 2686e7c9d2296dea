using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// AlterConfigs (key 33), versions 0–2 (the legacy API): replaces a topic's whole set of overrides
/// with the given one. Same rules as <see cref="IncrementalAlterConfigsHandler"/>.
/// </summary>
internal sealed class AlterConfigsHandler(TopicRegistry topics, Authorizer? authorizer = null, Cluster.ClusterService? cluster = null) : RequestHandler<AlterConfigsRequest, AlterConfigsResponse>(ApiKey.AlterConfigs, 0, 2)
{
    public override async ValueTask<AlterConfigsResponse?> HandleAsync(RequestContext context, AlterConfigsRequest alter)
    {
        var response = new AlterConfigsResponse();
        foreach (AlterConfigsRequest.AlterConfigsResource resource in alter.Resources)
        {
            ErrorCode error = CheckResourceType(resource.ResourceType, out string? message);
            if (DescribeConfigsHandler.Denied(authorizer, context, AclOperation.AlterConfigs, resource.ResourceType, resource.ResourceName) is { } denied)
            {
                (error, message) = (denied, null); // Kafka checks before anything else
            }
            else if (error != ErrorCode.None)
            {
                // broker configs are static
            }
            else
            {
                var overrides = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (AlterConfigsRequest.AlterableConfig config in resource.Configs)
                {
                    overrides[config.Name] = config.Value ?? string.Empty;
                }

                (error, message) = await TopicConfigChange.ApplyAsync(topics, cluster, resource.ResourceName, _ => (ErrorCode.None, null, overrides), alter.ValidateOnly)
                    .ConfigureAwait(false);
            }

            response.Responses.Add(new AlterConfigsResponse.AlterConfigsResourceResponse
            {
                ResourceType = resource.ResourceType,
                ResourceName = resource.ResourceName,
                ErrorCode = (short)error,
                ErrorMessage = message,
            });
        }

        return response;
    }

    /// <summary>INVALID_REQUEST, with the reason, for any resource but a topic (shared with IncrementalAlterConfigs).</summary>
    internal static ErrorCode CheckResourceType(sbyte resourceType, out string? message)
    {
        message = resourceType == DescribeConfigsHandler.TopicResource ? null : "Only topic configs can be changed; broker configs come from broker.json.";
        return message is null ? ErrorCode.None : ErrorCode.InvalidRequest;
    }
}
