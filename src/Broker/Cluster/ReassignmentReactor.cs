using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// While this broker is controller, watches every partition state and finishes a reassignment as soon as its
/// adding replicas are all in the ISR (the leader records that through its ISR changes). It follows
/// <see cref="ClusterService.Controller"/> rather than being started by it: when the controller changes (this
/// broker is deposed, or becomes controller again with a new epoch), the watch starts over with a full scan, so
/// no reassignment that became finishable in between is missed.
/// </summary>
internal sealed partial class ReassignmentReactor(ClusterService cluster, IControllerStore store, ClusterOptions options, ILogger<ReassignmentReactor> logger)
    : BackgroundService
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(250);
    private readonly ClusterKeys _keys = new(options.KeyRoot);
    private long _completed;

    /// <summary>Reassignments this broker finished as controller (for tests and metrics).</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (cluster.Controller is { } controller)
                {
                    await FollowAsync(controller, stoppingToken).ConfigureAwait(false);
                }
                else
                {
                    await Task.Delay(Poll, stoppingToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // A compacted watch revision or a store outage: start over with a full scan after a pause.
                Failed(logger, e);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private async Task FollowAsync(ClusterController controller, CancellationToken stoppingToken)
    {
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var guard = GuardAsync(controller, session);
        try
        {
            var range = await store.RangeAsync(_keys.PartitionsPrefix, session.Token).ConfigureAwait(false);
            foreach (var kv in range.Items)
            {
                await ReactAsync(controller, kv, session.Token).ConfigureAwait(false);
            }

            await foreach (var e in store.WatchAsync(_keys.PartitionsPrefix, range.Revision + 1, session.Token).ConfigureAwait(false))
            {
                if (!e.IsDelete)
                {
                    await ReactAsync(controller, e.Kv, session.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (session.IsCancellationRequested && !stoppingToken.IsCancellationRequested)
        {
            // The controller changed: the caller starts over with the current one.
        }
        finally
        {
            await session.CancelAsync().ConfigureAwait(false);
            await guard.ConfigureAwait(false);
        }
    }

    // Ends the session when this broker stops being the controller of that epoch.
    private async Task GuardAsync(ClusterController controller, CancellationTokenSource session)
    {
        try
        {
            while (ReferenceEquals(cluster.Controller, controller))
            {
                await Task.Delay(Poll, session.Token).ConfigureAwait(false);
            }

            await session.CancelAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ReactAsync(ClusterController controller, StoreKeyValue kv, CancellationToken cancellationToken)
    {
        if (ClusterJson.DecodePartition(kv.Value) is not { } state || !ReassignmentRules.InProgress(state)
            || kv.Key != _keys.Partition(state.Topic, state.Partition))
        {
            return;
        }

        if (await controller.CompleteReassignmentAsync(state.Topic, state.Partition, cancellationToken).ConfigureAwait(false) == true)
        {
            Interlocked.Increment(ref _completed);
            Finished(logger, state.Topic, state.Partition);
        }
    }

    [LoggerMessage(EventId = 1451, Level = LogLevel.Information, Message = "Reassignment of {Topic}-{Partition} finished")]
    private static partial void Finished(ILogger logger, string topic, int partition);

    [LoggerMessage(EventId = 1452, Level = LogLevel.Warning, Message = "Following partition states for reassignments failed; starting over")]
    private static partial void Failed(ILogger logger, Exception exception);
}
