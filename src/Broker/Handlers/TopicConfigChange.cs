using LogBroker.Broker.Cluster;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// A change of one topic's config overrides (AlterConfigs replaces them, IncrementalAlterConfigs edits them): given
/// the overrides as they are, the new whole set, or an error. Applied to the local registry on a single node; in
/// cluster mode recorded in the topic's record in the controller store (from any broker, conditioned on the record's
/// revision, the change computed again when another write came first), from where every broker with a replica
/// applies it.
/// </summary>
internal delegate (ErrorCode Error, string? Message, Dictionary<string, string>? Overrides) TopicConfigEdit(IReadOnlyDictionary<string, string> current);

/// <summary>Where <see cref="TopicConfigEdit"/>s go: the registry, or the cluster.</summary>
internal static class TopicConfigChange
{
    /// <summary>
    /// Why a resource of an AlterConfigs or IncrementalAlterConfigs request may not be changed: the caller lacks
    /// AlterConfigs on it (checked first, as Kafka does; no message), or it is not a topic (INVALID_REQUEST: broker
    /// configs are static). <see cref="ErrorCode.None"/> when the change may go ahead.
    /// </summary>
    public static ErrorCode Refusal(Authorizer? authorizer, RequestContext context, sbyte resourceType, string name, out string? message)
    {
        message = null;
        if (DescribeConfigsHandler.Denied(authorizer, context, AclOperation.AlterConfigs, resourceType, name) is { } denied)
        {
            return denied;
        }

        if (resourceType != DescribeConfigsHandler.TopicResource)
        {
            message = "Only topic configs can be changed; broker configs come from broker.json.";
            return ErrorCode.InvalidRequest;
        }

        return ErrorCode.None;
    }

    public static ValueTask<(ErrorCode Error, string? Message)> ApplyAsync(
        TopicRegistry topics, ClusterService? cluster, string name, TopicConfigEdit edit, bool validateOnly)
    {
        if (cluster is not null)
        {
            return new ValueTask<(ErrorCode, string?)>(cluster.AlterTopicConfigsAsync(name, Checked(topics, edit), validateOnly, CancellationToken.None));
        }

        if (topics.Get(name) is not { } topic)
        {
            return ValueTask.FromResult<(ErrorCode, string?)>((ErrorCode.UnknownTopicOrPartition, $"Topic '{name}' does not exist."));
        }

        (ErrorCode error, string? message, Dictionary<string, string>? overrides) = edit(topic.Overrides);
        if (error == ErrorCode.None)
        {
            error = topics.SetConfigs(topic.Name, overrides!, validateOnly, out message);
        }

        return ValueTask.FromResult<(ErrorCode, string?)>((error, message));
    }

    /// <summary>The edit, then the registry's check of the whole set it gives (INVALID_CONFIG before anything is recorded).</summary>
    private static TopicConfigEdit Checked(TopicRegistry topics, TopicConfigEdit edit) => current =>
    {
        (ErrorCode error, string? message, Dictionary<string, string>? overrides) = edit(current);
        if (error == ErrorCode.None)
        {
            error = topics.ValidateConfigs(overrides!, out _, out message);
        }

        return (error, message, overrides);
    };
}
