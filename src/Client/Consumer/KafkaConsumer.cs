using System.Runtime.CompilerServices;
using System.Threading.Channels;
using LogBroker.Client.Network;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Client.Consumer;

/// <summary>
/// A consumer: assign partitions or subscribe to topics in a group (classic or server-side protocol),
/// then read batches with <see cref="ConsumeBatchesAsync"/> (or records with <see cref="ConsumeAsync"/>).
/// Fetching runs ahead of the application up to <see cref="ConsumerOptions.QueuedMaxBytes"/>. Consume from
/// one thread at a time; the other members are thread-safe.
/// </summary>
/// <remarks>
/// A façade over <see cref="AssignmentState"/> (positions), the <see cref="Fetcher"/> (one
/// <see cref="FetchSource"/> per broker), the <see cref="PositionResolver"/>, the
/// <see cref="OffsetCommitter"/> and, with a subscription, a <see cref="GroupMembership"/>.
/// </remarks>
public sealed partial class KafkaConsumer : IKafkaConsumer, IAssignmentHost
{
    private readonly ConsumerOptions _options;
    private readonly Cluster _cluster;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly AssignmentState _assignment = new();
    private readonly Channel<ConsumeBatch> _fetched = Channel.CreateUnbounded<ConsumeBatch>(new UnboundedChannelOptions { SingleReader = true });
    private readonly OffsetCommitter _committer;
    private readonly Fetcher _fetcher;
    private readonly CancellationTokenSource _stop = new();
    private GroupMembership? _membership;
    private List<string> _subscription = [];
    private ConsumeBatch? _current;
    private KafkaException? _fatal;
    private bool _disposed;

    /// <summary>Creates the consumer; it connects on first use.</summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public KafkaConsumer(ConsumerOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<KafkaConsumer>();
        // A fetch response may be FetchMaxBytes plus framing, whatever MaxResponseBytes says.
        _cluster = new Cluster(options with { MaxResponseBytes = Math.Max(options.MaxResponseBytes, options.FetchMaxBytes + (1 << 20)) }, _logger);
        var offsets = new ClusterGroupOffsets(_cluster, options);
        _committer = new OffsetCommitter(options, _assignment, offsets, () => _membership?.CommitIdentity ?? (-1, ""), _logger);
        var resolver = new PositionResolver(options, _assignment, offsets, e => SetFatal(e, complete: true));
        _fetcher = new Fetcher(options, _cluster, _assignment, resolver, _fetched, SetFatal, _logger);
        _fetcher.Start();
    }

    /// <summary>Raised (on a background thread) after partitions were assigned to this consumer.</summary>
    public event EventHandler<PartitionsChangedEventArgs>? PartitionsAssigned;

    /// <summary>Raised (on a background thread) before partitions are given up in a rebalance; commit here if not auto-committing.</summary>
    public event EventHandler<PartitionsChangedEventArgs>? PartitionsRevoked;

    /// <summary>Raised when partitions were lost without an orderly revocation (the member was fenced or expired).</summary>
    public event EventHandler<PartitionsChangedEventArgs>? PartitionsLost;

    /// <summary>The consumer's settings.</summary>
    public ConsumerOptions Options => _options;

    /// <summary>The partitions currently assigned, sorted by topic and partition.</summary>
    public IReadOnlyList<TopicPartition> Assignment => _assignment.Sorted();

    /// <summary>The member id in the group (empty before joining or without a group).</summary>
    public string MemberId => _membership?.MemberId ?? "";

    /// <summary>The subscribed topics, sorted.</summary>
    IReadOnlyList<string> IAssignmentHost.Subscription
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
    /// <exception cref="InvalidOperationException">No GroupId, or the consumer has a manual assignment.</exception>
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
            if (_membership is null && _assignment.Count > 0)
            {
                throw new InvalidOperationException("The consumer has a manual assignment; Unassign first.");
            }

            _subscription = list;
            _membership ??= _options.GroupProtocol == GroupProtocol.Consumer
                ? new ServerSideMembership(this, _cluster, _logger, _options, _options.GroupId)
                : new ClassicMembership(this, _cluster, _logger, _options, _options.GroupId);
        }

        _membership.SubscriptionChanged();
    }

    /// <summary>
    /// Assigns partitions manually (no group membership). An offset of <see cref="Offsets.Stored"/> starts from
    /// the group's committed offset (or <see cref="ConsumerOptions.AutoOffsetReset"/>); <see cref="Offsets.Beginning"/>
    /// and <see cref="Offsets.End"/> from the log's start or end.
    /// </summary>
    /// <exception cref="InvalidOperationException">The consumer is subscribed.</exception>
    public void Assign(IEnumerable<TopicPartitionOffset> partitions)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        lock (_lock)
        {
            if (_membership is not null)
            {
                throw new InvalidOperationException("The consumer is subscribed; it cannot also assign partitions manually.");
            }

            _assignment.Replace(partitions);
        }

        _fetcher.Wake();
    }

    /// <summary>Removes a manual assignment.</summary>
    public void Unassign() => _assignment.Clear();

    /// <summary>
    /// The next offset to consume from <paramref name="partition"/>, or null when not assigned or not known yet.
    /// </summary>
    public long? Position(TopicPartition partition) => _assignment.Position(partition);

    /// <summary>Moves the position of an assigned partition (special values as in <see cref="Assign"/>).</summary>
    /// <exception cref="InvalidOperationException">The partition is not assigned.</exception>
    public void Seek(TopicPartitionOffset target)
    {
        if (!_assignment.Seek(target))
        {
            throw new InvalidOperationException($"{target.TopicPartition} is not assigned to this consumer.");
        }

        _fetcher.Wake();
    }

    /// <summary>Moves each partition to the first record at or after <paramref name="time"/> (the log end when none is).</summary>
    public async Task SeekToTimestampAsync(IEnumerable<TopicPartition> partitions, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        List<TopicPartition> list = [.. partitions];
        Dictionary<TopicPartition, long> offsets = await new ClusterGroupOffsets(_cluster, _options).ListOffsetsAsync(list, time.ToUnixTimeMilliseconds(), cancellationToken).ConfigureAwait(false);
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
        _assignment.SetPaused(partitions, paused);
        _fetcher.Wake();
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
    /// <exception cref="KafkaException">The consumer stopped with a fatal error (a corrupt batch, a fatal group error, no offset with AutoOffsetReset Error).</exception>
    public async ValueTask<ConsumeBatch?> NextBatchAsync(CancellationToken cancellationToken = default)
    {
        ReleaseCurrent();
        await _committer.AutoCommitIfDueAsync(cancellationToken).ConfigureAwait(false);
        while (true)
        {
            if (_fatal is { } fatal)
            {
                throw fatal;
            }

            ConsumeBatch batch;
            try
            {
                if (!_fetched.Reader.TryRead(out batch!))
                {
                    batch = await ReadAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !_stop.IsCancellationRequested)
            {
                // Woken for the next auto-commit even though no data arrived.
                await _committer.AutoCommitIfDueAsync(cancellationToken).ConfigureAwait(false);
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

            _fetcher.Consumed(batch);
            if (!_assignment.TryDeliver(batch.Partition, batch.Epoch, batch.LastOffset))
            {
                batch.Release();
                continue;
            }

            _current = batch;
            return batch;
        }
    }

    private async ValueTask<ConsumeBatch> ReadAsync(CancellationToken cancellationToken)
    {
        if (!_committer.AutoCommits)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
            return await _fetched.Reader.ReadAsync(linked.Token).ConfigureAwait(false);
        }

        // Wake up for the next auto-commit even when no data arrives (timed on the injected clock).
        using var timer = new CancellationTokenSource(_committer.UntilAutoCommit + TimeSpan.FromMilliseconds(1), _options.TimeProvider);
        using var withTimer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token, timer.Token);
        return await _fetched.Reader.ReadAsync(withTimer.Token).ConfigureAwait(false);
    }

    private void ReleaseCurrent()
    {
        _current?.Release();
        _current = null;
    }

    /// <summary>Commits the position of every assigned partition (what was consumed so far).</summary>
    /// <exception cref="InvalidOperationException">No GroupId.</exception>
    /// <exception cref="KafkaException">The commit failed.</exception>
    public Task CommitAsync(CancellationToken cancellationToken = default) => CommitOffsetsAsync(_assignment.Positions(changedOnly: false), cancellationToken);

    /// <summary>Commits offsets (each the next offset to read) for the group.</summary>
    /// <exception cref="InvalidOperationException">No GroupId.</exception>
    /// <exception cref="KafkaException">The commit failed.</exception>
    public Task CommitOffsetsAsync(IEnumerable<TopicPartitionOffset> offsets, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offsets);
        return _committer.CommitAsync([.. offsets], cancellationToken);
    }

    /// <summary>The group's committed offsets of <paramref name="partitions"/> (-1 where nothing is committed).</summary>
    /// <exception cref="InvalidOperationException">No GroupId.</exception>
    public Task<IReadOnlyList<TopicPartitionOffset>> CommittedAsync(IEnumerable<TopicPartition> partitions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        return _committer.CommittedAsync([.. partitions], cancellationToken);
    }

    List<TopicPartition> IAssignmentHost.OwnedPartitions() => _assignment.Owned();

    async Task IAssignmentHost.RevokeAsync(IReadOnlyList<TopicPartition> partitions, bool lost)
    {
        if (partitions.Count == 0)
        {
            return;
        }

        if (!lost)
        {
            await _committer.CommitBeforeRevokeAsync(partitions, _stop.Token).ConfigureAwait(false);
        }

        Raise(lost ? PartitionsLost : PartitionsRevoked, partitions);
        _assignment.Remove(partitions);
    }

    void IAssignmentHost.AddAssigned(IReadOnlyList<TopicPartition> partitions)
    {
        if (partitions.Count == 0)
        {
            return;
        }

        _assignment.Add(partitions);
        Raise(PartitionsAssigned, partitions);
        _fetcher.Wake();
    }

    void IAssignmentHost.Fatal(KafkaException error) => SetFatal(error, complete: true);

    private void SetFatal(KafkaException error, bool complete)
    {
        if (complete)
        {
            _fatal = error;
            _fetched.Writer.TryComplete();
        }
        else
        {
            Interlocked.CompareExchange(ref _fatal, error, null);
        }
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
                LogLeaveFailed(_logger, e.Message);
            }
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _fetched.Writer.TryComplete();
        await _fetcher.DisposeAsync().ConfigureAwait(false);
        while (_fetched.Reader.TryRead(out ConsumeBatch? b))
        {
            b.Release();
        }

        await _cluster.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 305, Level = LogLevel.Error, Message = "A partition assignment callback threw")]
    private static partial void LogCallbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 306, Level = LogLevel.Warning, Message = "Leaving the group failed: {Reason}")]
    private static partial void LogLeaveFailed(ILogger logger, string reason);
}
