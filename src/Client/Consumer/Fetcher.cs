using System.Threading.Channels;
using LogBroker.Client.Internal;
using LogBroker.Client.Network;
using Microsoft.Extensions.Logging;

namespace LogBroker.Client.Consumer;

/// <summary>
/// Runs the consumer's fetching: a positions loop (resolves positions, looks up each partition's leader and
/// starts a <see cref="FetchSource"/> per leader) and one fetch loop per broker, franz-go's source shape,
/// so a broker with data never waits for another broker's long poll. Fetched batches go to one queue,
/// bounded together by <see cref="ConsumerOptions.QueuedMaxBytes"/>.
/// </summary>
internal sealed partial class Fetcher : IAsyncDisposable
{
    private static readonly TimeSpan IdleWait = TimeSpan.FromMilliseconds(100);
    private readonly ConsumerOptions _options;
    private readonly Cluster _cluster;
    private readonly AssignmentState _assignment;
    private readonly PositionResolver _resolver;
    private readonly Action<KafkaException, bool> _fatal;
    private readonly ILogger _logger;
    private readonly Channel<ConsumeBatch> _fetched;
    private readonly WakeSignal _wake;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _sourcesLock = new();
    private readonly Dictionary<int, FetchSource> _sources = [];
    private readonly List<Task> _loops = [];
    private long _queuedBytes;

    public Fetcher(ConsumerOptions options, Cluster cluster, AssignmentState assignment, PositionResolver resolver, Channel<ConsumeBatch> fetched,
        Action<KafkaException, bool> fatal, ILogger logger)
    {
        _options = options;
        _cluster = cluster;
        _assignment = assignment;
        _resolver = resolver;
        _fetched = fetched;
        _fatal = fatal;
        _logger = logger;
        _wake = new WakeSignal(options.TimeProvider);
    }

    internal ConsumerOptions Options => _options;

    internal Cluster Cluster => _cluster;

    internal AssignmentState Assignment => _assignment;

    internal ILogger Logger => _logger;

    internal CancellationToken Stopping => _stop.Token;

    /// <summary>True while the fetched-and-unconsumed bytes are under the prefetch bound.</summary>
    internal bool HasRoom => Interlocked.Read(ref _queuedBytes) < _options.QueuedMaxBytes;

    public void Start()
    {
        lock (_sourcesLock)
        {
            _loops.Add(Task.Run(() => RunLoopAsync(PositionsStepAsync)));
        }
    }

    /// <summary>Wakes the positions loop and every source (assignment, seek, pause or room changed).</summary>
    public void Wake()
    {
        _wake.Set();
        lock (_sourcesLock)
        {
            foreach (FetchSource source in _sources.Values)
            {
                source.Wake();
            }
        }
    }

    /// <summary>The application took a batch: its bytes leave the prefetch bound.</summary>
    public void Consumed(ConsumeBatch batch)
    {
        Interlocked.Add(ref _queuedBytes, -batch.Bytes);
        Wake();
    }

    internal void Deliver(ConsumeBatch batch)
    {
        Interlocked.Add(ref _queuedBytes, batch.Bytes);
        _fetched.Writer.TryWrite(batch);
    }

    /// <summary>A corrupt batch: the consumer throws <paramref name="error"/> at its next read (what is queued stays readable).</summary>
    internal void Corrupt(KafkaException error) => _fatal(error, false);

    internal Task RunLoopAsync(Func<Task<bool>> step) => BackgroundLoop.RunAsync(
        step,
        e =>
        {
            if (e is KafkaException)
            {
                LogFetchFailed(_logger, e.Message);
            }
            else
            {
                LogFetchLoopFailed(_logger, e);
            }

            return LoopFault.Backoff;
        },
        () => BackgroundLoop.DelayAsync(_options.RetryBackoff, _options.TimeProvider, _stop.Token),
        _stop.Token);

    /// <summary>Resolves positions and leaders; partitions with both are fetched by their leader's source.</summary>
    private async Task<bool> PositionsStepAsync()
    {
        await _resolver.ResolveAsync(_stop.Token).ConfigureAwait(false);
        var leaderless = new List<FetchTarget>();
        _assignment.Fetchable(-1, leaderless);
        if (leaderless.Count > 0)
        {
            var topics = new HashSet<string>(StringComparer.Ordinal);
            foreach (FetchTarget t in leaderless)
            {
                topics.Add(t.Partition.Topic);
            }

            ClusterSnapshot snapshot = await _cluster.MetadataAsync(topics, _options.AllowAutoCreateTopics, _stop.Token).ConfigureAwait(false);
            _assignment.SetLeaders(tp => snapshot.Topics.TryGetValue(tp.Topic, out TopicInfo? info) && tp.Partition < info.PartitionCount ? info.Leaders[tp.Partition] : -1);
            bool unresolved = false;
            foreach (FetchTarget t in leaderless)
            {
                int leader = snapshot.Topics.TryGetValue(t.Partition.Topic, out TopicInfo? info) && t.Partition.Partition < info.PartitionCount ? info.Leaders[t.Partition.Partition] : -1;
                if (leader < 0)
                {
                    unresolved = true;
                }
                else
                {
                    SourceFor(leader).Wake();
                }
            }

            if (unresolved)
            {
                _cluster.Invalidate();
                await BackgroundLoop.DelayAsync(_options.RetryBackoff, _options.TimeProvider, _stop.Token).ConfigureAwait(false);
                return true;
            }
        }

        await _wake.WaitAsync(IdleWait, _stop.Token).ConfigureAwait(false);
        return true;
    }

    private FetchSource SourceFor(int node)
    {
        lock (_sourcesLock)
        {
            if (!_sources.TryGetValue(node, out FetchSource? source))
            {
                _sources[node] = source = new FetchSource(node, this);
                _loops.Add(Task.Run(() => RunLoopAsync(source.StepAsync)));
            }

            return source;
        }
    }

    /// <summary>A fetch failed or a partition moved: look its leader up again.</summary>
    internal void LeaderMoved(TopicPartition partition)
    {
        _assignment.ForgetLeader(partition);
        _wake.Set();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        Task[] loops;
        lock (_sourcesLock)
        {
            loops = [.. _loops];
        }

        try
        {
            await Task.WhenAll(loops).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "Fetch failed: {Reason}")]
    private static partial void LogFetchFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 302, Level = LogLevel.Error, Message = "The fetch loop failed")]
    private static partial void LogFetchLoopFailed(ILogger logger, Exception exception);
}
