using System.Collections.Concurrent;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace LogBroker.Client.Network;

/// <summary>What the client knows of one topic.</summary>
internal sealed record TopicInfo(string Name, Guid Id, ErrorCode Error, int[] Leaders)
{
    public int PartitionCount => Leaders.Length;
}

/// <summary>A snapshot of cluster metadata: brokers and the topics asked for so far.</summary>
internal sealed record ClusterSnapshot(
    string? ClusterId,
    int ControllerId,
    IReadOnlyDictionary<int, (string Host, int Port)> Brokers,
    IReadOnlyDictionary<string, TopicInfo> Topics,
    IReadOnlyDictionary<Guid, string> TopicNames,
    DateTimeOffset FetchedAt);

/// <summary>
/// The client's view of the cluster, used by producer, consumer and admin (each has its own): bootstrap, a metadata cache
/// refreshed on demand and by age, and one connection per broker, reconnected with exponential backoff.
/// </summary>
internal sealed class Cluster : IAsyncDisposable
{
    private readonly ClientOptions _options;
    private readonly ConnectionSettings _settings;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly List<(string Host, int Port)> _bootstrap;
    private readonly ConcurrentDictionary<int, NodeState> _nodes = new();
    private readonly SemaphoreSlim _metadataLock = new(1, 1);
    private readonly HashSet<string> _interesting = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _disposed = new();
    private volatile ClusterSnapshot _snapshot = new(null, -1, new Dictionary<int, (string, int)>(), new Dictionary<string, TopicInfo>(StringComparer.Ordinal), new Dictionary<Guid, string>(), DateTimeOffset.MinValue);
    private int _bootstrapIndex;

    public Cluster(ClientOptions options, ILogger logger)
    {
        options.ValidateCommon();
        _options = options;
        _logger = logger;
        _time = options.TimeProvider;
        _bootstrap = Endpoints.Parse(options.BootstrapServers);
        _settings = new ConnectionSettings(options.ClientId, options.RequestTimeout, options.ConnectTimeout,
            options.MaxInFlightRequestsPerConnection, options.MaxResponseBytes, options.TimeProvider)
        { Security = ClientSecurity.From(options) };
    }

    public ClientOptions Options => _options;

    public TimeProvider Time => _time;

    public ClusterSnapshot Snapshot => _snapshot;

    /// <summary>Group id to coordinator node id (see <see cref="Coordinators"/>).</summary>
    public ConcurrentDictionary<string, int> CoordinatorCache { get; } = new(StringComparer.Ordinal);

    public CancellationToken Disposed => _disposed.Token;

    /// <summary>The connection to <paramref name="nodeId"/> (-1: any broker), connecting when needed.</summary>
    public async Task<BrokerConnection> ConnectionAsync(int nodeId, CancellationToken cancellationToken)
    {
        if (nodeId < 0)
        {
            return await AnyConnectionAsync(cancellationToken).ConfigureAwait(false);
        }

        NodeState node = _nodes.GetOrAdd(nodeId, static id => new NodeState(id));
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Task<BrokerConnection>? connecting;
            lock (node)
            {
                if (node.Connecting is null || node.Connecting.IsFaulted || node.Connecting.IsCanceled ||
                    (node.Connecting.IsCompletedSuccessfully && !node.Connecting.Result.IsAlive))
                {
                    if (!_snapshot.Brokers.TryGetValue(nodeId, out (string Host, int Port) endpoint))
                    {
                        throw new KafkaException(ErrorCode.LeaderNotAvailable, $"Broker {nodeId} is not in the cluster metadata.");
                    }

                    node.Connecting = ConnectWithBackoffAsync(node, endpoint.Host, endpoint.Port);
                }

                connecting = node.Connecting;
            }

            BrokerConnection connection = await connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (connection.IsAlive)
            {
                return connection;
            }
        }
    }

    private async Task<BrokerConnection> ConnectWithBackoffAsync(NodeState node, string host, int port)
    {
        TimeSpan wait = node.NextAttempt - _time.GetUtcNow();
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, _time, _disposed.Token).ConfigureAwait(false);
        }

        try
        {
            BrokerConnection c = await BrokerConnection.ConnectAsync(host, port, node.NodeId, _settings, _logger, _disposed.Token).ConfigureAwait(false);
            node.Failures = 0;
            return c;
        }
        catch
        {
            node.Failures++;
            double ms = Math.Min(_options.ReconnectBackoffMax.TotalMilliseconds,
                _options.ReconnectBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(node.Failures - 1, 20)));
            node.NextAttempt = _time.GetUtcNow() + TimeSpan.FromMilliseconds(ms * (0.8 + (Random.Shared.NextDouble() * 0.4)));
            throw;
        }
    }

    /// <summary>A live connection to some broker: a known one if any, else a bootstrap server.</summary>
    public async Task<BrokerConnection> AnyConnectionAsync(CancellationToken cancellationToken)
    {
        foreach (NodeState node in _nodes.Values)
        {
            Task<BrokerConnection>? c = node.Connecting;
            if (c is { IsCompletedSuccessfully: true } && c.Result.IsAlive)
            {
                return c.Result;
            }
        }

        foreach (int nodeId in _snapshot.Brokers.Keys)
        {
            try
            {
                return await ConnectionAsync(nodeId, cancellationToken).ConfigureAwait(false);
            }
            catch (KafkaException)
            {
            }
        }

        return await BootstrapConnectionAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<BrokerConnection> BootstrapConnectionAsync(CancellationToken cancellationToken)
    {
        // Bootstrap connections use negative pseudo node ids below -1, one per server.
        KafkaException? last = null;
        for (int i = 0; i < _bootstrap.Count; i++)
        {
            int index = (_bootstrapIndex + i) % _bootstrap.Count;
            int pseudoId = -2 - index;
            NodeState node = _nodes.GetOrAdd(pseudoId, static id => new NodeState(id));
            Task<BrokerConnection> connecting;
            lock (node)
            {
                if (node.Connecting is null || node.Connecting.IsFaulted || node.Connecting.IsCanceled ||
                    (node.Connecting.IsCompletedSuccessfully && !node.Connecting.Result.IsAlive))
                {
                    node.Connecting = ConnectWithBackoffAsync(node, _bootstrap[index].Host, _bootstrap[index].Port);
                }

                connecting = node.Connecting;
            }

            try
            {
                BrokerConnection c = await connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
                _bootstrapIndex = index;
                return c;
            }
            catch (KafkaException e) when (e.ErrorCode is not (ErrorCode.SaslAuthenticationFailed or ErrorCode.UnsupportedSaslMechanism or ErrorCode.IllegalSaslState))
            {
                last = e;
            }
        }

        throw new KafkaException(ErrorCode.NetworkException,
            $"No bootstrap server is reachable ({_options.BootstrapServers}): {last?.Message}", last);
    }

    /// <summary>Sends to <paramref name="nodeId"/> (-1: any) in the highest common version.</summary>
    public async Task<TResponse> SendAsync<TResponse>(int nodeId, ApiKey key, Func<short, IKafkaMessage> build, CancellationToken cancellationToken, TimeSpan? timeout = null)
        where TResponse : IKafkaMessage, new()
    {
        BrokerConnection connection = await ConnectionAsync(nodeId, cancellationToken).ConfigureAwait(false);
        short version = connection.RequireVersion(key);
        return await connection.SendAsync<TResponse>(key, version, build(version), cancellationToken, timeout).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="attempt"/> until it succeeds, a non-retriable error is thrown, or
    /// <paramref name="timeout"/> passes; waits <see cref="ClientOptions.RetryBackoff"/> between attempts.
    /// </summary>
    public async Task<T> RetryAsync<T>(Func<CancellationToken, Task<T>> attempt, TimeSpan timeout, CancellationToken cancellationToken)
    {
        DateTimeOffset deadline = _time.GetUtcNow() + timeout;
        while (true)
        {
            try
            {
                return await attempt(cancellationToken).ConfigureAwait(false);
            }
            catch (KafkaException e) when (e.IsRetriable && _time.GetUtcNow() + _options.RetryBackoff < deadline)
            {
                await Task.Delay(_options.RetryBackoff, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Metadata for <paramref name="topics"/>, from the cache when fresh and complete, else fetched.</summary>
    public async Task<ClusterSnapshot> MetadataAsync(IReadOnlyCollection<string> topics, bool allowAutoCreate, CancellationToken cancellationToken)
    {
        ClusterSnapshot s = _snapshot;
        bool fresh = _time.GetUtcNow() - s.FetchedAt < _options.MetadataMaxAge;
        bool complete = true;
        foreach (string t in topics)
        {
            if (!s.Topics.TryGetValue(t, out TopicInfo? info) || info.Error != ErrorCode.None)
            {
                complete = false;
                break;
            }
        }

        return fresh && complete ? s : await RefreshAsync(topics, allowAutoCreate, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One topic's metadata; throws when the topic does not exist (or could not be created).</summary>
    public async Task<TopicInfo> TopicAsync(string topic, bool allowAutoCreate, CancellationToken cancellationToken)
    {
        ClusterSnapshot s = await MetadataAsync([topic], allowAutoCreate, cancellationToken).ConfigureAwait(false);
        if (!s.Topics.TryGetValue(topic, out TopicInfo? info))
        {
            throw new KafkaException(ErrorCode.UnknownTopicOrPartition, $"Topic '{topic}' is not in the metadata.");
        }

        return info.Error == ErrorCode.None
            ? info
            : throw new KafkaException(info.Error, $"Topic '{topic}': {info.Error}.");
    }

    /// <summary>
    /// Fetches metadata for the topics of interest plus <paramref name="topics"/> (null: every topic), and
    /// replaces the snapshot.
    /// </summary>
    public async Task<ClusterSnapshot> RefreshAsync(IReadOnlyCollection<string>? topics, bool allowAutoCreate, CancellationToken cancellationToken)
    {
        await _metadataLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            List<string>? names = null;
            if (topics is not null)
            {
                foreach (string t in topics)
                {
                    _interesting.Add(t);
                }

                names = [.. _interesting];
            }

            MetadataResponse response = await RetryAsync(async ct =>
            {
                BrokerConnection connection = await AnyConnectionAsync(ct).ConfigureAwait(false);
                short version = connection.RequireVersion(ApiKey.Metadata);
                var request = new MetadataRequest { AllowAutoTopicCreation = allowAutoCreate };
                if (names is null)
                {
                    request.Topics = null;
                }
                else
                {
                    foreach (string n in names)
                    {
                        request.Topics!.Add(new MetadataRequest.MetadataRequestTopic { Name = n });
                    }
                }

                return await connection.SendAsync<MetadataResponse>(ApiKey.Metadata, version, request, ct).ConfigureAwait(false);
            }, _options.RequestTimeout, cancellationToken).ConfigureAwait(false);

            var brokers = new Dictionary<int, (string, int)>();
            foreach (MetadataResponse.MetadataResponseBroker b in response.Brokers)
            {
                brokers[b.NodeId] = (b.Host, b.Port);
            }

            var topicMap = new Dictionary<string, TopicInfo>(StringComparer.Ordinal);
            if (names is not null)
            {
                // Keep what the client knew of topics this response did not cover.
                foreach (KeyValuePair<string, TopicInfo> kv in _snapshot.Topics)
                {
                    topicMap[kv.Key] = kv.Value;
                }
            }

            var idMap = new Dictionary<Guid, string>();
            foreach (MetadataResponse.MetadataResponseTopic t in response.Topics)
            {
                if (t.Name is null)
                {
                    continue;
                }

                int count = 0;
                foreach (MetadataResponse.MetadataResponsePartition p in t.Partitions)
                {
                    count = Math.Max(count, p.PartitionIndex + 1);
                }

                int[] leaders = new int[Math.Min(count, 1 << 20)];
                Array.Fill(leaders, -1);
                foreach (MetadataResponse.MetadataResponsePartition p in t.Partitions)
                {
                    if (p.PartitionIndex >= 0 && p.PartitionIndex < leaders.Length && p.ErrorCode == 0)
                    {
                        leaders[p.PartitionIndex] = p.LeaderId;
                    }
                }

                topicMap[t.Name] = new TopicInfo(t.Name, t.TopicId, (ErrorCode)t.ErrorCode, leaders);
            }

            foreach (TopicInfo t in topicMap.Values)
            {
                if (t.Id != Guid.Empty)
                {
                    idMap[t.Id] = t.Name;
                }
            }

            var snapshot = new ClusterSnapshot(response.ClusterId, response.ControllerId, brokers, topicMap, idMap, _time.GetUtcNow());
            _snapshot = snapshot;
            return snapshot;
        }
        finally
        {
            _metadataLock.Release();
        }
    }

    /// <summary>Marks the cached metadata stale so the next lookup fetches it again.</summary>
    public void Invalidate() => _snapshot = _snapshot with { FetchedAt = DateTimeOffset.MinValue };

    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }

        await _disposed.CancelAsync().ConfigureAwait(false);
        foreach (NodeState node in _nodes.Values)
        {
            Task<BrokerConnection>? c = node.Connecting;
            if (c is { IsCompletedSuccessfully: true })
            {
                await c.Result.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private sealed class NodeState(int nodeId)
    {
        public int NodeId { get; } = nodeId;

        public Task<BrokerConnection>? Connecting { get; set; }

        public int Failures { get; set; }

        public DateTimeOffset NextAttempt { get; set; } = DateTimeOffset.MinValue;
    }
}

/// <summary>Group coordinator lookup (FindCoordinator), cached per group until invalidated.</summary>
internal static class Coordinators
{
    /// <summary>The node id of <paramref name="groupId"/>'s coordinator.</summary>
    public static async Task<int> CoordinatorAsync(this Cluster cluster, string groupId, CancellationToken cancellationToken)
    {
        ConcurrentDictionary<string, int> cache = cluster.CoordinatorCache;
        if (cache.TryGetValue(groupId, out int cached))
        {
            return cached;
        }

        int node = await cluster.RetryAsync(async ct =>
        {
            FindCoordinatorResponse r = await cluster.SendAsync<FindCoordinatorResponse>(-1, ApiKey.FindCoordinator,
                _ => new FindCoordinatorRequest { Key = groupId, KeyType = 0 }, ct).ConfigureAwait(false);
            if (r.ErrorCode != 0)
            {
                throw new KafkaException((ErrorCode)r.ErrorCode, $"FindCoordinator for group '{groupId}': {(ErrorCode)r.ErrorCode} {r.ErrorMessage}");
            }

            if (!cluster.Snapshot.Brokers.ContainsKey(r.NodeId))
            {
                await cluster.RefreshAsync([], false, ct).ConfigureAwait(false);
            }

            return r.NodeId;
        }, cluster.Options.RequestTimeout, cancellationToken).ConfigureAwait(false);
        cache[groupId] = node;
        return node;
    }

    /// <summary>
    /// Sends a request to <paramref name="groupId"/>'s coordinator. A connection failure, or a response whose
    /// <paramref name="error"/> says the coordinator moved or is loading, forgets the cached coordinator and
    /// throws a retriable <see cref="KafkaException"/>; any other response is returned for the caller to judge.
    /// </summary>
    public static async Task<TResponse> SendToCoordinatorAsync<TResponse>(this Cluster cluster, string groupId, ApiKey key, IKafkaMessage request,
        Func<TResponse, short>? error, CancellationToken cancellationToken, TimeSpan? timeout = null)
        where TResponse : IKafkaMessage, new()
    {
        int node = await cluster.CoordinatorAsync(groupId, cancellationToken).ConfigureAwait(false);
        TResponse response;
        try
        {
            response = await cluster.SendAsync<TResponse>(node, key, _ => request, cancellationToken, timeout).ConfigureAwait(false);
        }
        catch (KafkaException e) when (MeansCoordinatorMoved(e.ErrorCode))
        {
            cluster.InvalidateCoordinator(groupId);
            throw;
        }

        var code = (ErrorCode)(error?.Invoke(response) ?? 0);
        if (MeansCoordinatorMoved(code) || code == ErrorCode.CoordinatorLoadInProgress)
        {
            cluster.InvalidateCoordinator(groupId);
            throw new KafkaException(code, $"{key} for group '{groupId}': {code}.");
        }

        return response;
    }

    /// <summary>Forgets the cached coordinator (after NOT_COORDINATOR or a connection failure).</summary>
    public static void InvalidateCoordinator(this Cluster cluster, string groupId)
    {
        cluster.CoordinatorCache.TryRemove(groupId, out _);
    }

    /// <summary>True for errors after which the coordinator must be looked up again.</summary>
    public static bool MeansCoordinatorMoved(ErrorCode code) =>
        code is ErrorCode.NotCoordinator or ErrorCode.CoordinatorNotAvailable or ErrorCode.NetworkException or ErrorCode.RequestTimedOut;
}
