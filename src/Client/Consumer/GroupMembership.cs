using LogBroker.Client.Internal;
using LogBroker.Client.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace LogBroker.Client.Consumer;

/// <summary>
/// A consumer's membership in a group: a background loop that joins, keeps the member alive and applies
/// assignment changes to the consumer (revoking with a commit before partitions move).
/// </summary>
internal abstract partial class GroupMembership : IAsyncDisposable
{
    private readonly WakeSignal _wake;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private volatile bool _subscriptionChanged = true;

    protected GroupMembership(IAssignmentHost host, Cluster cluster, ILogger logger, ConsumerOptions options, string groupId)
    {
        Host = host;
        Cluster = cluster;
        Logger = logger;
        Options = options;
        _wake = new WakeSignal(options.TimeProvider);
        GroupId = groupId;
    }

    /// <summary>The consumer whose assignment this membership changes.</summary>
    protected IAssignmentHost Host { get; }

    protected ILogger Logger { get; }

    protected ConsumerOptions Options { get; }

    protected string GroupId { get; }

    protected Cluster Cluster { get; }

    protected CancellationToken Stopping => _stop.Token;

    /// <summary>The member id (empty before the first join).</summary>
    public abstract string MemberId { get; }

    /// <summary>The generation (classic) or member epoch (server-side) and member id that commits carry.</summary>
    public abstract (int GenerationOrEpoch, string MemberId) CommitIdentity { get; }

    /// <summary>The topics changed: rejoin with the new subscription.</summary>
    public void SubscriptionChanged()
    {
        _subscriptionChanged = true;
        _loop ??= Task.Run(LoopAsync);
        Wake();
    }

    protected bool TakeSubscriptionChange()
    {
        bool changed = _subscriptionChanged;
        _subscriptionChanged = false;
        return changed;
    }

    protected void Wake() => _wake.Set();

    /// <summary>Waits up to <paramref name="delay"/>, or until woken.</summary>
    protected Task WaitAsync(TimeSpan delay) => _wake.WaitAsync(delay, _stop.Token);

    private Task LoopAsync() => BackgroundLoop.RunAsync(
        async () =>
        {
            await StepAsync().ConfigureAwait(false);
            return true;
        },
        e =>
        {
            switch (e)
            {
                case KafkaException k when IsFatal(k.ErrorCode):
                    LogFatal(Logger, GroupId, k.Message);
                    Host.Fatal(k);
                    return LoopFault.Stop;
                case KafkaException k:
                    if (Coordinators.MeansCoordinatorMoved(k.ErrorCode))
                    {
                        Cluster.InvalidateCoordinator(GroupId);
                    }

                    LogRetry(Logger, GroupId, k.Message);
                    return LoopFault.Backoff;
                default:
                    LogLoopFailed(Logger, e);
                    return LoopFault.Backoff;
            }
        },
        () => WaitAsync(Options.RetryBackoff),
        _stop.Token);

    private static bool IsFatal(ErrorCode code) => code is ErrorCode.FencedInstanceId or ErrorCode.GroupAuthorizationFailed
        or ErrorCode.InvalidGroupId or ErrorCode.InconsistentGroupProtocol or ErrorCode.GroupMaxSizeReached
        or ErrorCode.UnsupportedAssignor or ErrorCode.UnsupportedVersion or ErrorCode.InvalidSessionTimeout;

    /// <summary>One step of the membership: join, heartbeat, reconcile, then wait.</summary>
    protected abstract Task StepAsync();

    /// <summary>Leaves the group (after revoking with a commit).</summary>
    protected abstract Task LeaveAsync(CancellationToken cancellationToken);

    /// <summary>Sends a group request to the coordinator; the caller handles the response's error codes.</summary>
    protected Task<TResponse> CoordinatorAsync<TResponse>(ApiKey key, IKafkaMessage request, TimeSpan? timeout = null)
        where TResponse : IKafkaMessage, new() =>
        Cluster.SendToCoordinatorAsync<TResponse>(GroupId, key, request, null, Stopping, timeout);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        using var leave = new CancellationTokenSource(Options.RequestTimeout, Options.TimeProvider);
        await LeaveAsync(leave.Token).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Error, Message = "Group {Group}: fatal error, the consumer stops: {Reason}")]
    private static partial void LogFatal(ILogger logger, string group, string reason);

    [LoggerMessage(EventId = 401, Level = LogLevel.Information, Message = "Group {Group}: {Reason}; retrying")]
    private static partial void LogRetry(ILogger logger, string group, string reason);

    [LoggerMessage(EventId = 402, Level = LogLevel.Error, Message = "The group membership loop failed")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);

    protected static List<TopicPartition> Except(List<TopicPartition> a, HashSet<TopicPartition> b)
    {
        var result = new List<TopicPartition>();
        foreach (TopicPartition tp in a)
        {
            if (!b.Contains(tp))
            {
                result.Add(tp);
            }
        }

        return result;
    }
}
