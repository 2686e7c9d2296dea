using LogBroker.Protocol;
using LogBroker.Storage;

namespace LogBroker.Broker.Metadata;

/// <summary>Checking a requested change, and the per-name claims that keep two changes of one topic from running at once.</summary>
internal sealed partial class TopicRegistry
{
    private static bool IsStorageFailure(Exception e) =>
        e is IOException or UnauthorizedAccessException or ObjectDisposedException or InvalidOperationException;

    private (ErrorCode, string?)? Validate(TopicRequest request, out LogConfig config, out Dictionary<string, string> overrides)
    {
        config = _defaults;
        overrides = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!TopicPartition.IsValidTopicName(request.Name))
        {
            return (ErrorCode.InvalidTopicException, $"'{Shorten(request.Name)}' is not a valid topic name (1-{TopicPartition.MaxTopicLength} of [a-zA-Z0-9._-]).");
        }

        if (IsInternal(request.Name))
        {
            return (ErrorCode.InvalidTopicException, $"'{request.Name}' is reserved for the broker's own use.");
        }

        if (request.Partitions < 1 || request.Partitions > _limits.MaxPartitionsPerTopic)
        {
            return (ErrorCode.InvalidPartitions, $"The number of partitions must be between 1 and {_limits.MaxPartitionsPerTopic} (Broker:MaxPartitionsPerTopic).");
        }

        foreach ((string key, string? value) in request.Configs)
        {
            if (!TopicConfigs.TryApply(config, key, value, out config, out string? message))
            {
                return (ErrorCode.InvalidConfig, message);
            }

            overrides[key] = value!;
        }

        return null;
    }

    private static string Shorten(string? name) => name is null ? "" : name.Length <= 300 ? name : string.Concat(name.AsSpan(0, 300), "...");

    /// <summary>Waits until no other change of <paramref name="name"/> is in flight, then claims it.</summary>
    private bool Reserve(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Topic? topic, out ErrorCode error, out string? message)
    {
        topic = null;
        error = ErrorCode.None;
        message = null;
        lock (_gate)
        {
            long deadline = Environment.TickCount64 + (long)BusyWait.TotalMilliseconds;
            while (_busy.Contains(name))
            {
                long left = deadline - Environment.TickCount64;
                if (left <= 0)
                {
                    error = ErrorCode.RequestTimedOut;
                    message = $"Another change of topic '{name}' is still in progress.";
                    return false;
                }

                Monitor.Wait(_gate, TimeSpan.FromMilliseconds(left));
            }

            if (!_topics.TryGetValue(name, out topic))
            {
                error = ErrorCode.UnknownTopicOrPartition;
                message = $"Topic '{name}' does not exist.";
                return false;
            }

            _busy.Add(name);
            return true;
        }
    }

    private void Release(string name, int pendingPartitions)
    {
        lock (_gate)
        {
            _busy.Remove(name);
            _pendingPartitions -= pendingPartitions;
            Monitor.PulseAll(_gate);
        }
    }

    private void Release(List<Pending> accepted)
    {
        lock (_gate)
        {
            foreach (Pending topic in accepted)
            {
                _busy.Remove(topic.Name);
                _pendingPartitions -= topic.Partitions;
            }

            Monitor.PulseAll(_gate);
        }
    }
}
