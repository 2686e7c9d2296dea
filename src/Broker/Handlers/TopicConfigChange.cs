using LogBroker.Broker.Cluster;
using LogBroker.Broker.Metadata;
using LogBroker.Protocol;

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
