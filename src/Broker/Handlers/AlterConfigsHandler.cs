using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// AlterConfigs (key 33), versions 0–2 (the legacy API): replaces a topic's whole set of overrides
/// with the given one. Same rules as <see cref="IncrementalAlterConfigsHandler"/>.
/// </summary>
internal sealed class AlterConfigsHandler(TopicRegistry topics) : RequestHandler<AlterConfigsRequest, AlterConfigsResponse>
{
    public override ApiKey Key => ApiKey.AlterConfigs;

    public override short MinVersion => 0;

    public override short MaxVersion => 2;

    public override ValueTask<AlterConfigsResponse?> HandleAsync(RequestContext context, AlterConfigsRequest alter)
    {
        var response = new AlterConfigsResponse();
        foreach (AlterConfigsRequest.AlterConfigsResource resource in alter.Resources)
        {
            ErrorCode error;
            string? message = null;
            if (resource.ResourceType != DescribeConfigsHandler.TopicResource)
            {
                error = ErrorCode.InvalidRequest;
                message = "Only topic configs can be changed; broker configs come from broker.json.";
            }
            else
            {
                var overrides = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (AlterConfigsRequest.AlterableConfig config in resource.Configs)
                {
                    overrides[config.Name] = config.Value ?? string.Empty;
                }

                error = topics.SetConfigs(resource.ResourceName, overrides, alter.ValidateOnly, out message);
            }

            response.Responses.Add(new AlterConfigsResponse.AlterConfigsResourceResponse
            {
                ResourceType = resource.ResourceType,
                ResourceName = resource.ResourceName,
                ErrorCode = (short)error,
                ErrorMessage = message,
            });
        }

        return ValueTask.FromResult<AlterConfigsResponse?>(response);
    }
}
