using System.Globalization;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using LogBroker.Storage;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// DescribeConfigs (key 32), versions 0–4 (v3+ give each config's type and, when asked, a line of
/// documentation; v4 is v3, flexible).
/// Behaviour: for a topic, every config LogBroker honours with the value really in force — an override
/// (source DYNAMIC_TOPIC_CONFIG) or the broker default (DEFAULT_CONFIG, is_default). For this broker
/// (resource name = node id or empty), its static settings, read-only. Unknown topic →
/// UNKNOWN_TOPIC_OR_PARTITION; other resource types → INVALID_REQUEST.
/// </summary>
internal sealed class DescribeConfigsHandler(TopicRegistry topics, ClusterInfo cluster, BrokerOptions broker, LogManager logs, Authorizer? authorizer = null) : RequestHandler<DescribeConfigsRequest, DescribeConfigsResponse>(ApiKey.DescribeConfigs, 0, 4)
{
    public const sbyte TopicResource = 2;
    public const sbyte BrokerResource = 4;
    public const sbyte GroupResource = 32;
    private const sbyte DynamicTopicConfig = 1;
    private const sbyte StaticBrokerConfig = 4;
    private const sbyte DefaultConfig = 5;

    /// <summary>
    /// Kafka's check for a config resource, before whether it exists: <paramref name="operation"/> on the topic
    /// (TOPIC_AUTHORIZATION_FAILED), on the group, or for broker resources on the cluster (CLUSTER_AUTHORIZATION_FAILED).
    /// </summary>
    internal static ErrorCode? Denied(Authorizer? authorizer, RequestContext context, AclOperation operation, sbyte resourceType, string name) => resourceType switch
    {
        TopicResource => authorizer?.Check(context, operation, AclResourceType.Topic, name),
        GroupResource => authorizer?.Check(context, operation, AclResourceType.Group, name),
        _ => authorizer?.Check(context, operation, AclResourceType.Cluster, Authorizer.ClusterName),
    };

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

            if (Denied(authorizer, context, AclOperation.DescribeConfigs, resource.ResourceType, resource.ResourceName) is { } denied)
            {
                result.ErrorCode = (short)denied;
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
                    ConfigType = (sbyte)TypeOf(name),
                    Documentation = describe.IncludeDocumentation ? Documentation(name) : null,
                });
            }
        }

        return ValueTask.FromResult<DescribeConfigsResponse?>(response);
    }

    private IEnumerable<(string Name, string Value)> BrokerConfigs()
    {
        yield return ("node.id", cluster.NodeId.ToString(CultureInfo.InvariantCulture));
        yield return ("broker.id", cluster.NodeId.ToString(CultureInfo.InvariantCulture));
        if (cluster.Listeners.Count == 0)
        {
            yield return ("listeners", "PLAINTEXT://" + broker.Listener);
            yield return ("advertised.listeners", $"PLAINTEXT://{cluster.Host}:{cluster.Port}");
        }
        else
        {
            // Kafka's forms: NAME://host:port, comma-separated, and NAME:PROTOCOL.
            var bound = new List<string>(cluster.Listeners.Count);
            var advertised = new List<string>(cluster.Listeners.Count);
            var protocols = new List<string>(cluster.Listeners.Count);
            foreach (Security.ListenerInfo listener in cluster.Listeners)
            {
                bound.Add($"{listener.Name}://{listener.Bound}");
                advertised.Add($"{listener.Name}://{listener.AdvertisedHost}:{listener.AdvertisedPort}");
                protocols.Add($"{listener.Name}:{listener.ProtocolName}");
            }

            yield return ("listeners", string.Join(',', bound));
            yield return ("advertised.listeners", string.Join(',', advertised));
            yield return ("listener.security.protocol.map", string.Join(',', protocols));
        }

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

    /// <summary>Kafka's ConfigType codes (DescribeConfigsResponse v3+).</summary>
    private enum ConfigType : sbyte
    {
        Unknown = 0,
        Boolean = 1,
        String = 2,
        Int = 3,
        Long = 5,
        List = 7,
    }

    /// <summary>The type Kafka declares for a config (broker ones under their own names or log.*).</summary>
    private static ConfigType TypeOf(string name) => (name.StartsWith("log.", StringComparison.Ordinal) && name != "log.dirs" ? name[4..] : name) switch
    {
        TopicConfigs.CleanupPolicy => ConfigType.List,
        TopicConfigs.RetentionMs or TopicConfigs.RetentionBytes or TopicConfigs.SegmentMs or TopicConfigs.FlushMessages or TopicConfigs.FlushMs
            or TopicConfigs.MessageTimestampBeforeMaxMs or TopicConfigs.MessageTimestampAfterMaxMs or "connections.max.idle.ms" => ConfigType.Long,
        TopicConfigs.SegmentBytes or TopicConfigs.SegmentIndexBytes or TopicConfigs.IndexIntervalBytes or TopicConfigs.MaxMessageBytes
            or TopicConfigs.MinInsyncReplicas or "node.id" or "broker.id" or "num.partitions" or "socket.request.max.bytes" or "message.max.bytes" => ConfigType.Int,
        TopicConfigs.MessageTimestampType or TopicConfigs.CompressionType or "listeners" or "advertised.listeners" or "log.dirs" => ConfigType.String,
        "auto.create.topics.enable" => ConfigType.Boolean,
        _ => ConfigType.Unknown,
    };

    /// <summary>One line about each config, for DescribeConfigs v3+ with include_documentation.</summary>
    private static string? Documentation(string name) => (name.StartsWith("log.", StringComparison.Ordinal) && name != "log.dirs" ? name[4..] : name) switch
    {
        TopicConfigs.CleanupPolicy => "The retention policy of old segments; LogBroker supports delete only.",
        TopicConfigs.RetentionMs => "How long a segment is kept after its last record before it is deleted (-1: no time limit).",
        TopicConfigs.RetentionBytes => "The size a partition may grow to before its oldest segments are deleted (-1: no size limit).",
        TopicConfigs.SegmentBytes => "The size at which a segment file is rolled.",
        TopicConfigs.SegmentMs => "The age at which a segment is rolled even if not full.",
        TopicConfigs.SegmentIndexBytes => "The size of a segment's offset and time indexes.",
        TopicConfigs.IndexIntervalBytes => "How many bytes of log one offset-index entry covers.",
        TopicConfigs.MaxMessageBytes => "The largest record batch the topic accepts.",
        TopicConfigs.FlushMessages => "How many records may be appended before the log is fsynced.",
        TopicConfigs.FlushMs => "How long appended data may wait before the log is fsynced.",
        TopicConfigs.MessageTimestampType => "Which timestamp records keep; LogBroker supports CreateTime only.",
        TopicConfigs.CompressionType => "The codec batches are stored in: producer keeps each batch as sent; uncompressed, gzip, snappy, lz4 or zstd re-encodes batches in another codec.",
        TopicConfigs.MessageTimestampBeforeMaxMs => "How far in the past a record's timestamp may be.",
        TopicConfigs.MessageTimestampAfterMaxMs => "How far in the future a record's timestamp may be.",
        TopicConfigs.MinInsyncReplicas => "In cluster mode, the in-sync replicas an acks=all produce needs; fewer get NOT_ENOUGH_REPLICAS.",
        "node.id" or "broker.id" => "This node's id.",
        "listeners" => "The address the broker listens on.",
        "advertised.listeners" => "The address clients are told to connect to.",
        "log.dirs" => "The data directory.",
        "auto.create.topics.enable" => "Whether Metadata may create a topic that does not exist.",
        "num.partitions" => "The partition count of a topic created without one.",
        "socket.request.max.bytes" => "The largest request frame accepted.",
        "connections.max.idle.ms" => "How long an idle connection is kept.",
        "message.max.bytes" => "The default largest record batch of a topic.",
        _ => null,
    };

    /// <summary>A name as quoted in an error message: short enough that the message always fits a STRING.</summary>
    private static string Shorten(string name) => name.Length <= 256 ? name : string.Concat(name.AsSpan(0, 256), "…");
}
