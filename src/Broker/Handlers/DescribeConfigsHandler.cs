using System.Globalization;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Storage;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// DescribeConfigs (key 32), versions 0–2.
/// Behaviour: for a topic, every config LogBroker honours with the value really in force — an override
/// (source DYNAMIC_TOPIC_CONFIG) or the broker default (DEFAULT_CONFIG, is_default). For this broker
/// (resource name = node id or empty), its static settings, read-only. Unknown topic →
/// UNKNOWN_TOPIC_OR_PARTITION; other resource types → INVALID_REQUEST.
/// </summary>
internal sealed class DescribeConfigsHandler(TopicRegistry topics, ClusterInfo cluster, BrokerOptions broker, LogManager logs) : RequestHandler<DescribeConfigsRequest, DescribeConfigsResponse>
{
    public const sbyte TopicResource = 2;
    public const sbyte BrokerResource = 4;
    private const sbyte DynamicTopicConfig = 1;
    private const sbyte StaticBrokerConfig = 4;
    private const sbyte DefaultConfig = 5;

    public override ApiKey Key => ApiKey.DescribeConfigs;

    public override short MinVersion => 0;

    public override short MaxVersion => 2;

    public override ValueTask<DescribeConfigsResponse?> HandleAsync(RequestContext context, DescribeConfigsRequest describe)
    {
        var response = new DescribeConfigsResponse();
        HashSet<(sbyte, string)>? repeated = Duplicates.Repeated(describe.Resources.Select(r => (r.ResourceType, r.ResourceName)));
        foreach (DescribeConfigsRequest.DescribeConfigsResource resource in describe.Resources)
        {
            var result = new DescribeConfigsResponse.DescribeConfigsResult
            {
                ResourceType = resource.ResourceType,
                ResourceName = resource.ResourceName,
                ErrorMessage = null,
            };
            response.Results.Add(result);
            if (repeated is not null && repeated.Contains((resource.ResourceType, resource.ResourceName)))
            {
                result.ErrorCode = (short)ErrorCode.InvalidRequest;
                result.ErrorMessage = "The resource is listed more than once in the request.";
                continue;
            }

            HashSet<string>? keys = resource.ConfigurationKeys is { Count: > 0 } wanted ? [.. wanted] : null;
            IEnumerable<(string Name, string Value, bool IsDefault, bool ReadOnly, sbyte Source)> configs;
            if (resource.ResourceType == TopicResource && topics.Get(resource.ResourceName) is { } topic)
            {
                configs = TopicConfigs.Names.Select(n => (n, TopicConfigs.Value(topic, n),
                    !topic.Overrides.ContainsKey(n), false, topic.Overrides.ContainsKey(n) ? DynamicTopicConfig : DefaultConfig));
            }
            else if (resource.ResourceType == TopicResource)
            {
                result.ErrorCode = (short)ErrorCode.UnknownTopicOrPartition;
                result.ErrorMessage = $"Topic '{Shorten(resource.ResourceName)}' does not exist.";
                continue;
            }
            else if (resource.ResourceType == BrokerResource &&
                     (resource.ResourceName.Length == 0 || resource.ResourceName == cluster.NodeId.ToString(CultureInfo.InvariantCulture)))
            {
                configs = BrokerConfigs().Select(c => (c.Name, c.Value, false, true, StaticBrokerConfig));
            }
            else
            {
                result.ErrorCode = (short)ErrorCode.InvalidRequest;
                result.ErrorMessage = $"Resource type {resource.ResourceType} '{Shorten(resource.ResourceName)}' cannot be described.";
                continue;
            }

            foreach ((string name, string value, bool isDefault, bool readOnly, sbyte source) in configs)
            {
                if (keys is not null && !keys.Contains(name))
                {
                    continue;
                }

                result.Configs.Add(new DescribeConfigsResponse.DescribeConfigsResourceResult
                {
                    Name = name,
                    Value = value,
                    IsDefault = isDefault,
                    ReadOnly = readOnly,
                    ConfigSource = source,
                });
            }
        }

        return ValueTask.FromResult<DescribeConfigsResponse?>(response);
    }

    private IEnumerable<(string Name, string Value)> BrokerConfigs()
    {
        yield return ("node.id", cluster.NodeId.ToString(CultureInfo.InvariantCulture));
        yield return ("broker.id", cluster.NodeId.ToString(CultureInfo.InvariantCulture));
        yield return ("listeners", "PLAINTEXT://" + broker.Listener);
        yield return ("advertised.listeners", $"PLAINTEXT://{cluster.Host}:{cluster.Port}");
        yield return ("log.dirs", logs.DataDirectory);
        yield return ("auto.create.topics.enable", broker.AutoCreateTopics ? "true" : "false");
        yield return ("num.partitions", broker.NumPartitions.ToString(CultureInfo.InvariantCulture));
        yield return ("socket.request.max.bytes", broker.MaxRequestBytes.ToString(CultureInfo.InvariantCulture));
        yield return ("connections.max.idle.ms", ((long)broker.IdleTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        yield return ("message.max.bytes", TopicConfigs.Value(topics.Defaults, TopicConfigs.MaxMessageBytes));
        foreach (string name in TopicConfigs.Names)
        {
            yield return ("log." + name, TopicConfigs.Value(topics.Defaults, name));
        }
    }

    /// <summary>A name as quoted in an error message: short enough that the message always fits a STRING.</summary>
    private static string Shorten(string name) => name.Length <= 256 ? name : string.Concat(name.AsSpan(0, 256), "…");
}
