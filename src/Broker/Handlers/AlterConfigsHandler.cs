using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

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
            ErrorCode error = TopicConfigChange.Refusal(authorizer, context, resource.ResourceType, resource.ResourceName, out string? message);
            if (error == ErrorCode.None)
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
}
