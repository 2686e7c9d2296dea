using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// IncrementalAlterConfigs (key 44), versions 0–1.
/// Behaviour: topic configs only; SET and DELETE (back to the default) for the configs LogBroker
/// honours, applied to every partition at once and persisted; APPEND/SUBTRACT (list configs) and
/// unknown configs → INVALID_CONFIG; a config named twice → INVALID_REQUEST (as Kafka); broker configs
/// are static → INVALID_REQUEST. Values are checked without exceptions (see <see cref="TopicConfigs"/>);
/// a change that cannot be written to the metadata log → KAFKA_STORAGE_ERROR, and nothing changes.
/// </summary>
internal sealed class IncrementalAlterConfigsHandler(TopicRegistry topics, Authorizer? authorizer = null, Cluster.ClusterService? cluster = null) : RequestHandler<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 0, 1)
{
    public override async ValueTask<IncrementalAlterConfigsResponse?> HandleAsync(RequestContext context, IncrementalAlterConfigsRequest alter)
    {
        var response = new IncrementalAlterConfigsResponse();
        foreach (IncrementalAlterConfigsRequest.AlterConfigsResource resource in alter.Resources)
        {
            ErrorCode error = TopicConfigChange.Refusal(authorizer, context, resource.ResourceType, resource.ResourceName, out string? message);
            if (error != ErrorCode.None)
            {
                // refused before the configs are read
            }
            else if (HasDuplicateNames(resource.Configs))
            {
                error = ErrorCode.InvalidRequest;
                message = "Error due to duplicate config keys.";
            }
            else
            {
                List<IncrementalAlterConfigsRequest.AlterableConfig> configs = resource.Configs;
                (error, message) = await TopicConfigChange.ApplyAsync(topics, cluster, resource.ResourceName, current => Edit(current, configs), alter.ValidateOnly)
                    .ConfigureAwait(false);
            }

            response.Responses.Add(new IncrementalAlterConfigsResponse.AlterConfigsResourceResponse
            {
                ResourceType = resource.ResourceType,
                ResourceName = resource.ResourceName,
                ErrorCode = (short)error,
                ErrorMessage = message,
            });
        }

        return response;
    }

    /// <summary>SET (0) and DELETE (1) applied to a copy of the current overrides; APPEND and SUBTRACT are refused (no list-valued topic configs here).</summary>
    private static (ErrorCode, string?, Dictionary<string, string>?) Edit(
        IReadOnlyDictionary<string, string> current, List<IncrementalAlterConfigsRequest.AlterableConfig> configs)
    {
        var overrides = new Dictionary<string, string>(current, StringComparer.Ordinal);
        foreach (IncrementalAlterConfigsRequest.AlterableConfig config in configs)
        {
            switch (config.ConfigOperation)
            {
                case 0 when config.Value is not null:
                    overrides[config.Name] = config.Value;
                    break;
                case 1:
                    overrides.Remove(config.Name);
                    break;
                default:
                    return (ErrorCode.InvalidConfig, $"Operation {config.ConfigOperation} is not supported for '{config.Name}'.", null);
            }
        }

        return (ErrorCode.None, null, overrides);
    }

    private static bool HasDuplicateNames(List<IncrementalAlterConfigsRequest.AlterableConfig> configs)
    {
        var seen = new HashSet<string>(configs.Count, StringComparer.Ordinal);
        foreach (IncrementalAlterConfigsRequest.AlterableConfig config in configs)
        {
            if (!seen.Add(config.Name))
            {
                return true;
            }
        }

        return false;
    }
}
