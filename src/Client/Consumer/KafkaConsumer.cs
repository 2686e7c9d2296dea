using System.Runtime.CompilerServices;
using System.Threading.Channels;
using LogBroker.Client.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Client.Consumer;

/// <summary>Special offsets for <see cref="KafkaConsumer.Assign"/> and <see cref="KafkaConsumer.Seek"/>.</summary>
public static class Offsets
{
    /// <summary>The log start offset.</summary>
    public const long Beginning = -2;

    /// <summary>The log end offset.</summary>
    public const long End = -1;

    /// <summary>The group's committed offset, else <see cref="ConsumerOptions.AutoOffsetReset"/>.</summary>
    public const long Stored = -1000;
}

/// <summary>The partitions an assignment change concerns.</summary>
/// <param name="partitions">The partitions.</param>
public sealed class PartitionsChangedEventArgs(IReadOnlyList<TopicPartition> partitions) : EventArgs
{
    /// <summary>The partitions.</summary>
    public IReadOnlyList<TopicPartition> Partitions { get; } = partitions;
}

/// <summary>
/// A consumer: assign partitions or subscribe to topics in a group (classic or server-side protocol),
/// then read batches with <see cref="ConsumeBatchesAsync"/> (or records with <see cref="ConsumeAsync"/>).
/// Fetching runs ahead of the application up to <see cref="ConsumerOptions.QueuedMaxBytes"/>. Consume from
/// one thread at a time; the other members are thread-safe.
/// </summary>
public sealed partial class KafkaConsumer : IAsyncDisposable
{
    private readonly ConsumerOptions _options;
    private readonly Cluster _cluster;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<TopicPartition, PartitionState> _assigned = [];
    private readonly Channel<ConsumeBatch> _fetched = Channel.CreateUnbounded<ConsumeBatch>(new UnboundedChannelOptions { SingleReader = true });
    private readonly WakeSignal _wakeFetcher;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _fetchLoop;
    private GroupMembership? _membership;
    private List<string> _subscription = [];
    private ConsumeBatch? _current;
    private long _queuedBytes;
    private DateTimeOffset _lastAutoCommit;
    private KafkaException? _fatal;
    private int _epochCounter;
    private bool _disposed;

    /// <summary>Creates the consumer; it connects on first use.</summary>
    public KafkaConsumer(ConsumerOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<KafkaConsumer>();
        _cluster = new Cluster(options with { MaxResponseBytes = Math.Max(options.MaxResponseBytes, options.FetchMaxBytes + (1 << 20)) }, _logger);
        _wakeFetcher = new WakeSignal(options.TimeProvider);
        _lastAutoCommit = options.TimeProvider.GetUtcNow();
        _fetchLoop = Task.Run(FetchLoopAsync);
    }

    /// <summary>Raised (on a background thread) after partitions were assigned to this consumer.</summary>
    public event EventHandler<PartitionsChangedEventArgs>? PartitionsAssigned;

    /// <summary>Raised (on a background thread) before partitions are given up in a rebalance; commit here if not auto-committing.</summary>
    public event EventHandler<PartitionsChangedEventArgs>? PartitionsRevoked;

    /// <summary>Raised when partitions were lost without an orderly revocation (the member was fenced or expired).</summary>
    public event EventHandler<PartitionsChangedEventArgs>? PartitionsLost;

    /// <summary>The consumer's settings.</summary>
    public ConsumerOptions Options => _options;

    /// <summary>The partitions currently assigned.</summary>
    public IReadOnlyList<TopicPartition> Assignment
    {
        get
        {
            lock (_lock)
            {
                var list = new List<TopicPartition>(_assigned.Keys);
                list.Sort(static (a, b) => a.Topic == b.Topic ? a.Partition.CompareTo(b.Partition) : string.CompareOrdinal(a.Topic, b.Topic));
                return list;
            }
        }
    }

    /// <summary>The member id in the group (empty before joining or without a group).</summary>
    public string MemberId => _membership?.MemberId ?? "";

    internal Cluster Cluster => _cluster;

    internal ILogger Logger => _logger;

    internal IReadOnlyList<string> Subscription
    {
        get
        {
            lock (_lock)
            {
                return _subscription;
            }
        }
    }

    /// <summary>Subscribes to topics through the group (<see cref="ConsumerOptions.GroupId"/> is required).</summary>
    public void Subscribe(IEnumerable<string> topics)
    {
        ArgumentNullException.ThrowIfNull(topics);
        if (_options.GroupId is null)
        {
            throw new InvalidOperationException("Subscribe needs a GroupId; use Assign without a group.");
        }

        List<string> list = [.. topics];
        list.Sort(StringComparer.Ordinal);
        lock (_lock)
        {
            if (_membership is null && _assigned.Count > 0)
            {
                throw new InvalidOperationException("The consumer has a manual assignment; Unassign first.");
            }

            _subscription = list;
            _membership ??= _options.GroupProtocol == GroupProtocol.Consumer
                ? new ServerSideMembership(this, _options, _options.GroupId)
                : new ClassicMembership(this, _options, _options.GroupId);
        }

        _membership.SubscriptionChanged();
    }

    /// <summary>
    /// Assigns partitions manually (no group membership). An offset of <see cref="Offsets.Stored"/> starts from
    /// the group's committed offset (or <see cref="ConsumerOptions.AutoOffsetReset"/>); <see cref="Offsets.Beginning"/>
    /// and <see cref="Offsets.End"/> from the log's start or end.
    /// </summary>
    public void Assign(IEnumerable<TopicPartitionOffset> partitions)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        lock (_lock)
        {
            if (_membership is not null)
            {
                throw new InvalidOperationException("The consumer is subscribed; it cannot also assign partitions manually.");
            }

            _assigned.Clear();
            foreach (TopicPartitionOffset tpo in partitions)
            {
                _assigned[tpo.TopicPartition] = new PartitionState(tpo.TopicPartition, NextEpoch()) { PendingSeek = tpo.Offset };
            }
        }

        WakeFetcher();
    }

    /// <summary>Removes a manual assignment.</summary>
    public void Unassign()
    {
        lock (_lock)
        {
            _assigned.Clear();
        }
    }

    /// <summary>
    /// The next offset to consume from <paramref name="partition"/>, or null when not assigned or not known yet.
    /// </summary>
    public long? Position(TopicPartition partition)
    {
        lock (_lock)
        {
            return _assigned.TryGetValue(partition, out PartitionState? s) && s.Position >= 0 ? s.Position : null;
        }
    }

    /// <summary>Moves the position of an assigned partition (special values as in <see cref="Assign"/>).</summary>
    public void Seek(TopicPartitionOffset target)
    {
        lock (_lock)
        {
            if (!_assigned.TryGetValue(target.TopicPartition, out PartitionState? s))
            {
                throw new InvalidOperationException($"{target.TopicPartition} is not assigned to this consumer.");
            }

            s.Epoch = NextEpoch();
            s.Position = -1;
            s.FetchPosition = -1;
            s.PendingSeek = target.Offset;
        }

        WakeFetcher();
    }

    /// <summary>Moves each partition to the first record at or after <paramref name="time"/> (the log end when none is).</summary>
    public async Task SeekToTimestampAsync(IEnumerable<TopicPartition> partitions, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        List<TopicPartition> list = [.. partitions];
        Dictionary<TopicPartition, long> offsets = await ListOffsetsAsync(list, time.ToUnixTimeMilliseconds(), cancellationToken).ConfigureAwait(false);
        foreach (TopicPartition tp in list)
        {
            Seek(new TopicPartitionOffset(tp.Topic, tp.Partition, offsets.TryGetValue(tp, out long o) && o >= 0 ? o : Offsets.End));
        }
    }

    /// <summary>Stops fetching the partitions until <see cref="Resume"/>; what was already fetched is still delivered.</summary>
    public void Pause(IEnumerable<TopicPartition> partitions) => SetPaused(partitions, true);

    /// <summary>Resumes fetching paused partitions.</summary>
    public void Resume(IEnumerable<TopicPartition> partitions) => SetPaused(partitions, false);

    private void SetPaused(IEnumerable<TopicPartition> partitions, bool paused)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        lock (_lock)
        {
            foreach (TopicPartition tp in partitions)
            {
                if (_assigned.TryGetValue(tp, out PartitionState? s))
                {
                    s.Paused = paused;
                    if (paused)
                    {
                        // Data fetched while pausing is dropped and fetched again on resume.
                        s.Epoch = NextEpoch();
                        s.FetchPosition = s.Position;
                    }
                }
            }
        }

        WakeFetcher();
    }

    /// <summary>
    /// Batches of records as they arrive, one per partition per fetch. A batch stays valid until the next
    /// one is requested. Auto-commit (when enabled) commits what earlier batches delivered.
    /// </summary>
    public async IAsyncEnumerable<ConsumeBatch> ConsumeBatchesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        try
        {
            while (true)
            {
                ConsumeBatch? batch = await NextBatchAsync(cancellationToken).ConfigureAwait(false);
                if (batch is null)
                {
                    yield break;
                }

                yield return batch;
            }
        }
        finally
        {
            ReleaseCurrent();
        }
    }

    /// <summary>Records one at a time (each copied into a <see cref="ConsumeRecord"/>).</summary>
    public async IAsyncEnumerable<ConsumeRecord> ConsumeAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (ConsumeBatch batch in ConsumeBatchesAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (ConsumeRecord record in batch.ToList())
            {
                yield return record;
            }
        }
    }

    /// <summary>The next batch, waiting until one arrives; null once the consumer is disposed.</summary>
    public async ValueTask<ConsumeBatch?> NextBatchAsync(CancellationToken cancellationToken = default)
    {
        ReleaseCurrent();
        if (_options.EnableAutoCommit && _options.GroupId is not null && _options.TimeProvider.GetUtcNow() - _lastAutoCommit >= _options.AutoCommitInterval)
        {
            _lastAutoCommit = _options.TimeProvider.GetUtcNow();
            await AutoCommitAsync(cancellationToken).ConfigureAwait(false);
        }

        while (true)
        {
            if (_fatal is { } fatal)
            {
                throw fatal;
            }

            ConsumeBatch batch;
            try
            {
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
                if (!_fetched.Reader.TryRead(out batch!))
                {
                    if (_options.EnableAutoCommit && _options.GroupId is not null)
                    {
                        // Wake up for the next auto-commit even when no data arrives.
                        linked.CancelAfter(_options.AutoCommitInterval);
                    }

                    batch = await _fetched.Reader.ReadAsync(linked.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !_stop.IsCancellationRequested)
            {
                if (_options.EnableAutoCommit && _options.GroupId is not null && _options.TimeProvider.GetUtcNow() - _lastAutoCommit >= _options.AutoCommitInterval)
                {
                    _lastAutoCommit = _options.TimeProvider.GetUtcNow();
                    await AutoCommitAsync(cancellationToken).ConfigureAwait(false);
                }

                continue;
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                return null;
            }
            catch (ChannelClosedException)
            {
                return null;
            }

            Interlocked.Add(ref _queuedBytes, -batch.Bytes);
            WakeFetcher();
            bool current;
            lock (_lock)
            {
                current = _assigned.TryGetValue(batch.Partition, out PartitionState? s) && s.Epoch == batch.Epoch && batch.LastOffset >= s.Position;
                if (current)
                {
                    s!.Position = batch.LastOffset + 1;
                }
            }

            if (!current)
            {
                batch.Release();
                continue;
            }

            _current = batch;
            return batch;
        }
    }

    private void ReleaseCurrent()
    {
        _current?.Release();
        _current = null;
    }

    /// <summary>Commits the position of every assigned partition (what was consumed so far).</summary>
    public Task CommitAsync(CancellationToken cancellationToken = default) => CommitOffsetsAsync(Positions(), cancellationToken);

    /// <summary>Commits offsets (each the next offset to read) for the group.</summary>
    public async Task CommitOffsetsAsync(IEnumerable<TopicPartitionOffset> offsets, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offsets);
        string group = _options.GroupId ?? throw new InvalidOperationException("Committing needs a GroupId.");
        List<TopicPartitionOffset> list = [.. offsets];
        if (list.Count == 0)
        {
            return;
        }

        await _cluster.RetryAsync(async ct =>
        {
            (int generation, string memberId) = _membership?.CommitIdentity ?? (-1, "");
            OffsetCommitRequest request = OffsetCommits.Request(group, generation, memberId, _options.GroupInstanceId, list);
            OffsetCommitResponse response = await _cluster.SendToCoordinatorAsync<OffsetCommitResponse>(group, ApiKey.OffsetCommit, request, OffsetCommits.FirstError, ct).ConfigureAwait(false);
            var error = (ErrorCode)OffsetCommits.FirstError(response);
            if (error != ErrorCode.None)
            {
                throw new KafkaException(error, $"Committing offsets of group '{group}' failed: {error}.");
            }

            lock (_lock)
            {
                foreach (TopicPartitionOffset o in list)
                {
                    if (_assigned.TryGetValue(o.TopicPartition, out PartitionState? s))
                    {
                        s.Committed = o.Offset;
                    }
                }
            }

            return true;
        }, _options.RequestTimeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The group's committed offsets of <paramref name="partitions"/> (-1 where nothing is committed).</summary>
    public async Task<IReadOnlyList<TopicPartitionOffset>> CommittedAsync(IEnumerable<TopicPartition> partitions, CancellationToken cancellationToken = default)
    {
        string group = _options.GroupId ?? throw new InvalidOperationException("Committed offsets need a GroupId.");
        Dictionary<TopicPartition, long> committed = await FetchCommittedAsync(group, [.. partitions], cancellationToken).ConfigureAwait(false);
        var list = new List<TopicPartitionOffset>(committed.Count);
        foreach (KeyValuePair<TopicPartition, long> kv in committed)
        {
            list.Add(new TopicPartitionOffset(kv.Key.Topic, kv.Key.Partition, kv.Value));
        }

        return list;
    }

    private List<TopicPartitionOffset> Positions()
    {
        var list = new List<TopicPartitionOffset>();
        lock (_lock)
        {
            foreach (PartitionState s in _assigned.Values)
            {
                if (s.Position >= 0)
                {
                    list.Add(new TopicPartitionOffset(s.Partition.Topic, s.Partition.Partition, s.Position));
                }
            }
        }

        return list;
    }

    internal async Task AutoCommitAsync(CancellationToken cancellationToken)
    {
        List<TopicPartitionOffset> changed = [];
        lock (_lock)
        {
            foreach (PartitionState s in _assigned.Values)
            {
                if (s.Position >= 0 && s.Position != s.Committed)
                {
                    changed.Add(new TopicPartitionOffset(s.Partition.Topic, s.Partition.Partition, s.Position));
                }
            }
        }

        if (changed.Count == 0)
        {
            return;
        }

        try
        {
            await CommitOffsetsAsync(changed, cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaException e)
        {
            LogAutoCommitFailed(_logger, e.Message);
        }
    }

    /// <summary>Commits (when auto-committing) then takes the partitions away. Called by the membership.</summary>
    internal async Task RevokeAsync(IReadOnlyList<TopicPartition> partitions, bool lost)
    {
        if (partitions.Count == 0)
        {
            return;
        }

        if (!lost && _options.EnableAutoCommit)
        {
            List<TopicPartitionOffset> commits = [];
            lock (_lock)
            {
                foreach (TopicPartition tp in partitions)
                {
                    if (_assigned.TryGetValue(tp, out PartitionState? s) && s.Position >= 0 && s.Position != s.Committed)
                    {
                        commits.Add(new TopicPartitionOffset(tp.Topic, tp.Partition, s.Position));
                    }
                }
            }

            try
            {
                await CommitOffsetsAsync(commits, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is KafkaException or OperationCanceledException)
            {
                LogAutoCommitFailed(_logger, e.Message);
            }
        }

        Raise(lost ? PartitionsLost : PartitionsRevoked, partitions);
        lock (_lock)
        {
            foreach (TopicPartition tp in partitions)
            {
                _assigned.Remove(tp);
            }
        }
    }

    /// <summary>Adds partitions to the assignment (positions come from committed offsets). Called by the membership.</summary>
    internal void AddAssigned(IReadOnlyList<TopicPartition> partitions)
    {
        if (partitions.Count == 0)
        {
            return;
        }

        lock (_lock)
        {
            foreach (TopicPartition tp in partitions)
            {
                if (!_assigned.ContainsKey(tp))
                {
                    _assigned[tp] = new PartitionState(tp, NextEpoch()) { PendingSeek = Offsets.Stored };
                }
            }
        }

        Raise(PartitionsAssigned, partitions);
        WakeFetcher();
    }

    internal void Fatal(KafkaException error)
    {
        _fatal = error;
        _fetched.Writer.TryComplete();
    }

    private void Raise(EventHandler<PartitionsChangedEventArgs>? handler, IReadOnlyList<TopicPartition> partitions)
    {
        if (handler is null)
        {
            return;
        }

        try
        {
            handler(this, new PartitionsChangedEventArgs(partitions));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogCallbackFailed(_logger, e);
        }
    }

    private int NextEpoch() => Interlocked.Increment(ref _epochCounter);

    private void WakeFetcher() => _wakeFetcher.Set();

    private async Task FetchLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await FetchOnceAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (KafkaException e)
            {
                LogFetchFailed(_logger, e.Message);
                await DelayAsync(_options.RetryBackoff).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogFetchLoopFailed(_logger, e);
                await DelayAsync(_options.RetryBackoff).ConfigureAwait(false);
            }
        }
    }

    private async Task DelayAsync(TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _options.TimeProvider, _stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task FetchOnceAsync()
    {
        await ResolvePositionsAsync().ConfigureAwait(false);

        var fetchable = new List<(TopicPartition Partition, long Offset, int Epoch)>();
        if (Interlocked.Read(ref _queuedBytes) < _options.QueuedMaxBytes)
        {
            lock (_lock)
            {
                foreach (PartitionState s in _assigned.Values)
                {
                    if (!s.Paused && s.FetchPosition >= 0)
                    {
                        fetchable.Add((s.Partition, s.FetchPosition, s.Epoch));
                    }
                }
            }
        }

        if (fetchable.Count == 0)
        {
            await _wakeFetcher.WaitAsync(TimeSpan.FromMilliseconds(100), _stop.Token).ConfigureAwait(false);
            return;
        }

        var topics = new HashSet<string>(StringComparer.Ordinal);
        foreach ((TopicPartition tp, _, _) in fetchable)
        {
            topics.Add(tp.Topic);
        }

        ClusterSnapshot snapshot = await _cluster.MetadataAsync(topics, _options.AllowAutoCreateTopics, _stop.Token).ConfigureAwait(false);
        var byNode = new Dictionary<int, List<(TopicPartition Partition, long Offset, int Epoch)>>();
        foreach ((TopicPartition tp, long offset, int epoch) in fetchable)
        {
            if (!snapshot.Topics.TryGetValue(tp.Topic, out TopicInfo? info) || tp.Partition >= info.PartitionCount || info.Leaders[tp.Partition] < 0)
            {
                continue;
            }

            int leader = info.Leaders[tp.Partition];
            if (!byNode.TryGetValue(leader, out List<(TopicPartition, long, int)>? list))
            {
                byNode[leader] = list = [];
            }

            list.Add((tp, offset, epoch));
        }

        if (byNode.Count == 0)
        {
            _cluster.Invalidate();
            await DelayAsync(_options.RetryBackoff).ConfigureAwait(false);
            return;
        }

        var tasks = new List<Task>(byNode.Count);
        foreach (KeyValuePair<int, List<(TopicPartition, long, int)>> kv in byNode)
        {
            tasks.Add(FetchFromAsync(kv.Key, kv.Value));
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    private async Task FetchFromAsync(int node, List<(TopicPartition Partition, long Offset, int Epoch)> partitions)
    {
        var request = new FetchRequest
        {
            ReplicaId = -1,
            MaxWaitMs = (int)_options.FetchMaxWait.TotalMilliseconds,
            MinBytes = _options.FetchMinBytes,
            MaxBytes = _options.FetchMaxBytes,
            IsolationLevel = 0,
            SessionId = 0,
            SessionEpoch = -1,
            RackId = "",
        };
        var byTopic = new Dictionary<string, FetchRequest.FetchTopic>(StringComparer.Ordinal);
        var requested = new Dictionary<TopicPartition, (long Offset, int Epoch)>();
        foreach ((TopicPartition tp, long offset, int epoch) in partitions)
        {
            if (!byTopic.TryGetValue(tp.Topic, out FetchRequest.FetchTopic? t))
            {
                byTopic[tp.Topic] = t = new FetchRequest.FetchTopic { Topic = tp.Topic };
                request.Topics.Add(t);
            }

            t.Partitions.Add(new FetchRequest.FetchPartition
            {
                Partition = tp.Partition,
                FetchOffset = offset,
                CurrentLeaderEpoch = -1,
                LastFetchedEpoch = -1,
                LogStartOffset = -1,
                PartitionMaxBytes = _options.MaxPartitionFetchBytes,
            });
            requested[tp] = (offset, epoch);
        }

        BrokerConnection connection = await _cluster.ConnectionAsync(node, _stop.Token).ConfigureAwait(false);
        short version = connection.RequireVersion(ApiKey.Fetch);
        using ResponseFrame frame = await connection.SendRawAsync(ApiKey.Fetch, version, request, _stop.Token).ConfigureAwait(false);
        FetchResponse response = frame.ParseZeroCopy<FetchResponse>();
        if (response.ErrorCode != 0)
        {
            throw new KafkaException((ErrorCode)response.ErrorCode, $"Fetch from broker {node} failed: {(ErrorCode)response.ErrorCode}.");
        }

        bool refreshMetadata = false;
        foreach (FetchResponse.FetchableTopicResponse t in response.Responses)
        {
            foreach (FetchResponse.PartitionData p in t.Partitions)
            {
                var tp = new TopicPartition(t.Topic, p.PartitionIndex);
                if (!requested.TryGetValue(tp, out (long Offset, int Epoch) asked))
                {
                    continue;
                }

                var error = (ErrorCode)p.ErrorCode;
                if (error == ErrorCode.OffsetOutOfRange)
                {
                    lock (_lock)
                    {
                        if (_assigned.TryGetValue(tp, out PartitionState? s) && s.Epoch == asked.Epoch)
                        {
                            LogOutOfRange(_logger, tp, asked.Offset);
                            s.Epoch = NextEpoch();
                            s.Position = -1;
                            s.FetchPosition = -1;
                            s.PendingSeek = Offsets.Stored;
                            s.ResetOnly = true;
                        }
                    }

                    continue;
                }

                if (error != ErrorCode.None)
                {
                    refreshMetadata |= error.IsRetriable();
                    if (!error.IsRetriable())
                    {
                        LogPartitionError(_logger, tp, error.ToString());
                    }

                    continue;
                }

                var batch = new ConsumeBatch(tp) { Epoch = asked.Epoch, HighWatermark = p.HighWatermark };
                batch.Start(frame, asked.Offset);
                bool ok = p.Records is not { } records || batch.AddBatches(records, _options.CheckCrcs, Math.Max(_options.FetchMaxBytes, 64 * 1024 * 1024));
                bool deliver = false;
                lock (_lock)
                {
                    if (_assigned.TryGetValue(tp, out PartitionState? s) && s.Epoch == asked.Epoch && s.FetchPosition == asked.Offset)
                    {
                        s.HighWatermark = p.HighWatermark;
                        if (!ok)
                        {
                            _fatal ??= new KafkaException(ErrorCode.CorruptMessage, $"A corrupt record batch was fetched from {tp} at offset {asked.Offset}.");
                        }
                        else
                        {
                            s.FetchPosition = batch.NextFetchOffset;
                            deliver = batch.Count > 0;
                        }
                    }
                }

                if (deliver)
                {
                    Interlocked.Add(ref _queuedBytes, batch.Bytes);
                    _fetched.Writer.TryWrite(batch);
                }
                else
                {
                    batch.Release();
                }
            }
        }

        if (refreshMetadata)
        {
            _cluster.Invalidate();
        }
    }

    /// <summary>Gives every partition waiting for a position one: committed offset, explicit seek, or reset.</summary>
    private async Task ResolvePositionsAsync()
    {
        List<(TopicPartition Partition, long Seek, int Epoch, bool ResetOnly)> pending = [];
        lock (_lock)
        {
            foreach (PartitionState s in _assigned.Values)
            {
                if (s.FetchPosition < 0 && s.PendingSeek != long.MinValue)
                {
                    pending.Add((s.Partition, s.PendingSeek, s.Epoch, s.ResetOnly));
                }
            }
        }

        if (pending.Count == 0)
        {
            return;
        }

        var resolved = new Dictionary<TopicPartition, long>();
        List<TopicPartition> stored = [];
        foreach ((TopicPartition tp, long seek, _, bool resetOnly) in pending)
        {
            if (seek >= 0)
            {
                resolved[tp] = seek;
            }
            else if (seek == Offsets.Stored && _options.GroupId is not null && !resetOnly)
            {
                stored.Add(tp);
            }
        }

        if (stored.Count > 0)
        {
            foreach (KeyValuePair<TopicPartition, long> kv in await FetchCommittedAsync(_options.GroupId!, stored, _stop.Token).ConfigureAwait(false))
            {
                if (kv.Value >= 0)
                {
                    resolved[kv.Key] = kv.Value;
                }
            }
        }

        List<TopicPartition> earliest = [];
        List<TopicPartition> latest = [];
        foreach ((TopicPartition tp, long seek, _, _) in pending)
        {
            if (resolved.ContainsKey(tp))
            {
                continue;
            }

            if (seek == Offsets.Beginning || (seek == Offsets.Stored && _options.AutoOffsetReset == AutoOffsetReset.Earliest))
            {
                earliest.Add(tp);
            }
            else if (seek == Offsets.End || (seek == Offsets.Stored && _options.AutoOffsetReset == AutoOffsetReset.Latest))
            {
                latest.Add(tp);
            }
            else
            {
                Fatal(new KafkaException(ErrorCode.OffsetOutOfRange, $"{tp} has no committed offset (or it is out of range) and AutoOffsetReset is Error."));
                return;
            }
        }

        foreach (KeyValuePair<TopicPartition, long> kv in await ListOffsetsAsync(earliest, -2, _stop.Token).ConfigureAwait(false))
        {
            resolved[kv.Key] = kv.Value;
        }

        foreach (KeyValuePair<TopicPartition, long> kv in await ListOffsetsAsync(latest, -1, _stop.Token).ConfigureAwait(false))
        {
            resolved[kv.Key] = kv.Value;
        }

        lock (_lock)
        {
            foreach ((TopicPartition tp, _, int epoch, _) in pending)
            {
                if (resolved.TryGetValue(tp, out long offset) && _assigned.TryGetValue(tp, out PartitionState? s) && s.Epoch == epoch)
                {
                    s.Position = offset;
                    s.FetchPosition = offset;
                    s.PendingSeek = long.MinValue;
                    s.ResetOnly = false;
                }
            }
        }
    }

    private async Task<Dictionary<TopicPartition, long>> FetchCommittedAsync(string group, List<TopicPartition> partitions, CancellationToken cancellationToken)
    {
        var result = new Dictionary<TopicPartition, long>();
        if (partitions.Count == 0)
        {
            return result;
        }

        var request = new OffsetFetchRequest { GroupId = group, Topics = PartitionRequests.GroupByTopic(partitions), RequireStable = true };
        OffsetFetchResponse response = await _cluster.RetryAsync(async ct =>
        {
            OffsetFetchResponse r = await _cluster.SendToCoordinatorAsync<OffsetFetchResponse>(group, ApiKey.OffsetFetch, request, static r => r.ErrorCode, ct).ConfigureAwait(false);
            return r.ErrorCode == 0
                ? r
                : throw new KafkaException((ErrorCode)r.ErrorCode, $"Fetching committed offsets of group '{group}' failed: {(ErrorCode)r.ErrorCode}.");
        }, _options.RequestTimeout, cancellationToken).ConfigureAwait(false);

        foreach (OffsetFetchResponse.OffsetFetchResponseTopic t in response.Topics)
        {
            foreach (OffsetFetchResponse.OffsetFetchResponsePartition p in t.Partitions)
            {
                result[new TopicPartition(t.Name, p.PartitionIndex)] = p.ErrorCode == 0 ? p.CommittedOffset : -1;
            }
        }

        return result;
    }

    private async Task<Dictionary<TopicPartition, long>> ListOffsetsAsync(List<TopicPartition> partitions, long timestamp, CancellationToken cancellationToken)
    {
        var result = new Dictionary<TopicPartition, long>();
        if (partitions.Count == 0)
        {
            return result;
        }

        foreach ((TopicPartition tp, ErrorCode error, long offset, _) in await _cluster.ListOffsetsAsync(partitions, timestamp, cancellationToken).ConfigureAwait(false))
        {
            if (error == ErrorCode.None)
            {
                result[tp] = offset;
            }
            else
            {
                _cluster.Invalidate(); // the partition stays unresolved and is looked up again
            }
        }

        return result;
    }

    /// <summary>Commits (when auto-committing), leaves the group and closes the connections.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        ReleaseCurrent();
        if (_membership is not null)
        {
            try
            {
                await _membership.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is KafkaException or OperationCanceledException)
            {
                LogAutoCommitFailed(_logger, e.Message);
            }
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _fetched.Writer.TryComplete();
        try
        {
            await _fetchLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        while (_fetched.Reader.TryRead(out ConsumeBatch? b))
        {
            b.Release();
        }

        await _cluster.DisposeAsync().ConfigureAwait(false);
    }

    internal CancellationToken Stopping => _stop.Token;

    internal List<TopicPartition> OwnedPartitions()
    {
        lock (_lock)
        {
            return [.. _assigned.Keys];
        }
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "Auto-commit failed: {Reason}")]
    private static partial void LogAutoCommitFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "Fetch failed: {Reason}")]
    private static partial void LogFetchFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 302, Level = LogLevel.Error, Message = "The fetch loop failed")]
    private static partial void LogFetchLoopFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 303, Level = LogLevel.Information, Message = "Offset {Offset} of {Partition} is out of range; resetting")]
    private static partial void LogOutOfRange(ILogger logger, TopicPartition partition, long offset);

    [LoggerMessage(EventId = 304, Level = LogLevel.Warning, Message = "Fetching {Partition} failed: {Error}")]
    private static partial void LogPartitionError(ILogger logger, TopicPartition partition, string error);

    [LoggerMessage(EventId = 305, Level = LogLevel.Error, Message = "A partition assignment callback threw")]
    private static partial void LogCallbackFailed(ILogger logger, Exception exception);

    private sealed class PartitionState(TopicPartition partition, int epoch)
    {
        public TopicPartition Partition { get; } = partition;

        public int Epoch { get; set; } = epoch;

        /// <summary>The next offset to deliver to the application (-1: not known yet).</summary>
        public long Position { get; set; } = -1;

        /// <summary>The next offset to fetch (-1: not known yet).</summary>
        public long FetchPosition { get; set; } = -1;

        /// <summary>Where to start when the position is unknown; long.MinValue once resolved.</summary>
        public long PendingSeek { get; set; } = Offsets.Stored;

        /// <summary>True after OFFSET_OUT_OF_RANGE: apply auto.offset.reset, not the committed offset.</summary>
        public bool ResetOnly { get; set; }

        public bool Paused { get; set; }

        public long HighWatermark { get; set; } = -1;

        public long Committed { get; set; } = -1;
    }
}
