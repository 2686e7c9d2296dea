using System.Collections.Concurrent;
using LogBroker.Broker.Replication;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// This broker's membership in the cluster: registers under a lease and keeps it alive, campaigns for
/// controller whenever the key is free, and, while controller, re-runs leader election on every change of
/// the registered brokers. Every broker also follows the partition states and hands them to the
/// <see cref="IReplicaManager"/> in partition-epoch order, and keeps the broker directory for replica fetches.
/// A lost lease ends the session (the broker is no longer a member; its controllership went with it) and a
/// new one starts with a new broker epoch.
/// </summary>
public sealed partial class ClusterService(
    IControllerStore store, ClusterOptions options, int brokerId, string host, Func<int> port, IReplicaManager replicas, ILogger<ClusterService> logger)
    : BackgroundService, IBrokerDirectory
{
    private readonly ClusterKeys _keys = new(options.KeyRoot);
    private readonly ConcurrentDictionary<int, BrokerRegistration> _brokers = new();
    private readonly ConcurrentDictionary<(string, int), int> _applied = new();
    private volatile ClusterController? _controller;

    /// <summary>This broker's registration in the current session (with its broker epoch), or null between sessions.</summary>
    public BrokerRegistration? Registration { get; private set; }

    /// <summary>The controller this broker runs, or null when another broker is controller.</summary>
    public ClusterController? Controller => _controller;

    /// <summary>The registered brokers as last seen.</summary>
    public IReadOnlyDictionary<int, BrokerRegistration> Brokers => _brokers;

    /// <inheritdoc/>
    public long BrokerEpochOf(int brokerId) => _brokers.TryGetValue(brokerId, out var broker) ? broker.BrokerEpoch : -1;

    /// <inheritdoc/>
    public bool TryGetEndpoint(int brokerId, out string host, out int port)
    {
        if (_brokers.TryGetValue(brokerId, out var broker))
        {
            (host, port) = (broker.Host, broker.Port);
            return true;
        }

        (host, port) = ("", 0);
        return false;
    }

    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunSessionAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                SessionFailed(logger, brokerId, e);
            }

            _controller = null;
            Registration = null;
            await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false);
        }
    }

    private async Task RunSessionAsync(CancellationToken stoppingToken)
    {
        var lease = await store.GrantLeaseAsync(options.LeaseTtl, stoppingToken).ConfigureAwait(false);
        var registration = await new BrokerRegistrar(store, _keys)
            .RegisterAsync(new BrokerRegistration(brokerId, host, port(), null), lease, stoppingToken).ConfigureAwait(false);
        if (registration is null)
        {
            // Our previous incarnation's lease has not expired yet (or another process has our id): wait it out.
            await store.RevokeLeaseAsync(lease, stoppingToken).ConfigureAwait(false);
            IdTaken(logger, brokerId);
            return;
        }

        Registration = registration;
        Registered(logger, brokerId, registration.BrokerEpoch);
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var tasks = new[]
        {
            KeepAliveAsync(lease, session),
            FollowBrokersAsync(lease, session.Token),
            FollowPartitionsAsync(session.Token),
        };
        await Task.WhenAny(tasks).ConfigureAwait(false);
        await session.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        if (stoppingToken.IsCancellationRequested)
        {
            // A clean stop hands the controllership and the partitions over at once rather than after the TTL.
            await store.RevokeLeaseAsync(lease, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task KeepAliveAsync(long lease, CancellationTokenSource session)
    {
        var interval = options.LeaseTtl / 3;
        while (!session.IsCancellationRequested)
        {
            await Task.Delay(interval, session.Token).ConfigureAwait(false);
            if (!await store.KeepAliveAsync(lease, session.Token).ConfigureAwait(false))
            {
                LeaseLost(logger, brokerId);
                return;
            }
        }
    }

    // Brokers and the controller key: one watch over both prefixes' parent would also carry every partition
    // change, so two reads per change are cheaper than filtering them all.
    private async Task FollowBrokersAsync(long lease, CancellationToken cancellationToken)
    {
        var range = await store.RangeAsync(_keys.BrokersPrefix, cancellationToken).ConfigureAwait(false);
        _brokers.Clear();
        foreach (var kv in range.Items)
        {
            Track(kv, false);
        }

        await ReactAsync(lease, cancellationToken).ConfigureAwait(false);
        var controllerWatch = FollowControllerAsync(lease, range.Revision + 1, cancellationToken);
        await foreach (var e in store.WatchAsync(_keys.BrokersPrefix, range.Revision + 1, cancellationToken).ConfigureAwait(false))
        {
            Track(e.Kv, e.IsDelete);
            await ReactAsync(lease, cancellationToken).ConfigureAwait(false);
        }

        await controllerWatch.ConfigureAwait(false);
    }

    private async Task FollowControllerAsync(long lease, long fromRevision, CancellationToken cancellationToken)
    {
        await foreach (var e in store.WatchAsync(_keys.Controller, fromRevision, cancellationToken).ConfigureAwait(false))
        {
            if (e.IsDelete)
            {
                await ReactAsync(lease, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task ReactAsync(long lease, CancellationToken cancellationToken)
    {
        if (_controller is null)
        {
            var election = new ControllerElection(store, brokerId, _keys.Controller);
            if (await election.TryCampaignAsync(lease, cancellationToken).ConfigureAwait(false) is { } epoch)
            {
                _controller = new ClusterController(store, _keys, election, epoch, options.UncleanLeaderElection);
                BecameController(logger, brokerId, epoch);
            }
        }

        if (_controller is { } controller && await controller.HandleBrokerChangesAsync(cancellationToken).ConfigureAwait(false) < 0)
        {
            Deposed(logger, brokerId, controller.Epoch);
            _controller = null;
        }
    }

    private void Track(StoreKeyValue kv, bool deleted)
    {
        if (!int.TryParse(kv.Key.AsSpan(_keys.BrokersPrefix.Length), out var id))
        {
            return;
        }

        if (deleted)
        {
            _brokers.TryRemove(id, out _);
        }
        else if (ClusterJson.Decode<BrokerRegistration>(kv.Value) is { } broker && broker.Id == id)
        {
            _brokers[id] = broker with { BrokerEpoch = kv.CreateRevision };
        }
    }

    private async Task FollowPartitionsAsync(CancellationToken cancellationToken)
    {
        var range = await store.RangeAsync(_keys.PartitionsPrefix, cancellationToken).ConfigureAwait(false);
        foreach (var kv in range.Items)
        {
            Deliver(kv, false);
        }

        await foreach (var e in store.WatchAsync(_keys.PartitionsPrefix, range.Revision + 1, cancellationToken).ConfigureAwait(false))
        {
            Deliver(e.Kv, e.IsDelete);
        }
    }

    private void Deliver(StoreKeyValue kv, bool deleted)
    {
        var rest = kv.Key.AsSpan(_keys.PartitionsPrefix.Length);
        var slash = rest.LastIndexOf('/');
        if (slash <= 0 || !int.TryParse(rest[(slash + 1)..], out var partition))
        {
            return;
        }

        var topic = rest[..slash].ToString();
        if (deleted)
        {
            if (_applied.TryRemove((topic, partition), out _))
            {
                replicas.Remove(topic, partition);
            }

            return;
        }

        if (ClusterJson.DecodePartition(kv.Value) is not { } state || !state.Replicas.Contains(brokerId))
        {
            return;
        }

        // Watch events arrive in revision order; the epoch check keeps a replayed or older state from going back.
        if (_applied.TryGetValue((topic, partition), out var last) && last >= state.PartitionEpoch)
        {
            return;
        }

        _applied[(topic, partition)] = state.PartitionEpoch;
        replicas.Apply(state);
    }

    [LoggerMessage(EventId = 1401, Level = LogLevel.Information, Message = "Broker {BrokerId} registered with broker epoch {BrokerEpoch}")]
    private static partial void Registered(ILogger logger, int brokerId, long brokerEpoch);

    [LoggerMessage(EventId = 1402, Level = LogLevel.Warning, Message = "Broker id {BrokerId} is still registered (a previous incarnation's lease, or another process); retrying")]
    private static partial void IdTaken(ILogger logger, int brokerId);

    [LoggerMessage(EventId = 1403, Level = LogLevel.Warning, Message = "Broker {BrokerId} lost its lease; registering again")]
    private static partial void LeaseLost(ILogger logger, int brokerId);

    [LoggerMessage(EventId = 1404, Level = LogLevel.Information, Message = "Broker {BrokerId} is controller with epoch {Epoch}")]
    private static partial void BecameController(ILogger logger, int brokerId, long epoch);

    [LoggerMessage(EventId = 1405, Level = LogLevel.Warning, Message = "Broker {BrokerId} was deposed as controller of epoch {Epoch}")]
    private static partial void Deposed(ILogger logger, int brokerId, long epoch);

    [LoggerMessage(EventId = 1406, Level = LogLevel.Error, Message = "Cluster session of broker {BrokerId} failed; starting a new one")]
    private static partial void SessionFailed(ILogger logger, int brokerId, Exception exception);
}
