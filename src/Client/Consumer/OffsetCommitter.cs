using Microsoft.Extensions.Logging;

namespace LogBroker.Client.Consumer;

/// <summary>
/// Commits for the consumer: explicit commits, the auto-commit every auto.commit.interval (timed on the
/// injected clock), and the commit before partitions are revoked.
/// </summary>
internal sealed partial class OffsetCommitter
{
    private readonly ConsumerOptions _options;
    private readonly AssignmentState _assignment;
    private readonly IGroupOffsets _offsets;
    private readonly Func<(int GenerationOrEpoch, string MemberId)> _identity;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private DateTimeOffset _lastAutoCommit;

    public OffsetCommitter(ConsumerOptions options, AssignmentState assignment, IGroupOffsets offsets, Func<(int GenerationOrEpoch, string MemberId)> identity, ILogger logger)
    {
        _options = options;
        _assignment = assignment;
        _offsets = offsets;
        _identity = identity;
        _logger = logger;
        _time = options.TimeProvider;
        _lastAutoCommit = _time.GetUtcNow();
    }

    /// <summary>True when auto-commit is on (it needs a group).</summary>
    public bool AutoCommits => _options.EnableAutoCommit && _options.GroupId is not null;

    /// <summary>How long until the next auto-commit is due (zero when due).</summary>
    public TimeSpan UntilAutoCommit
    {
        get
        {
            TimeSpan left = _options.AutoCommitInterval - (_time.GetUtcNow() - _lastAutoCommit);
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>Commits what changed when the auto-commit interval has passed since the last one.</summary>
    public async Task AutoCommitIfDueAsync(CancellationToken cancellationToken)
    {
        if (!AutoCommits)
        {
            return;
        }

        DateTimeOffset now = _time.GetUtcNow();
        if (now - _lastAutoCommit < _options.AutoCommitInterval)
        {
            return;
        }

        _lastAutoCommit = now;
        await CommitChangedAsync(_assignment.Positions(changedOnly: true), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Commits (when auto-committing) the positions of partitions about to be revoked.</summary>
    public async Task CommitBeforeRevokeAsync(IReadOnlyList<TopicPartition> partitions, CancellationToken cancellationToken)
    {
        if (!_options.EnableAutoCommit)
        {
            return;
        }

        try
        {
            await CommitAsync(_assignment.Positions(changedOnly: true, partitions), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is KafkaException or OperationCanceledException)
        {
            LogAutoCommitFailed(_logger, e.Message);
        }
    }

    private async Task CommitChangedAsync(List<TopicPartitionOffset> changed, CancellationToken cancellationToken)
    {
        if (changed.Count == 0)
        {
            return;
        }

        try
        {
            await CommitAsync(changed, cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaException e)
        {
            LogAutoCommitFailed(_logger, e.Message);
        }
    }

    /// <summary>Commits <paramref name="offsets"/> (each the next offset to read) and records them as committed.</summary>
    public async Task CommitAsync(List<TopicPartitionOffset> offsets, CancellationToken cancellationToken)
    {
        string group = _options.GroupId ?? throw new InvalidOperationException("Committing needs a GroupId.");
        if (offsets.Count == 0)
        {
            return;
        }

        await _offsets.CommitAsync(group, _identity, offsets, cancellationToken).ConfigureAwait(false);
        _assignment.MarkCommitted(offsets);
    }

    /// <summary>The group's committed offsets of <paramref name="partitions"/> (-1 where nothing is committed).</summary>
    public async Task<IReadOnlyList<TopicPartitionOffset>> CommittedAsync(List<TopicPartition> partitions, CancellationToken cancellationToken)
    {
        string group = _options.GroupId ?? throw new InvalidOperationException("Committed offsets need a GroupId.");
        Dictionary<TopicPartition, long> committed = await _offsets.FetchCommittedAsync(group, partitions, cancellationToken).ConfigureAwait(false);
        var list = new List<TopicPartitionOffset>(committed.Count);
        foreach (KeyValuePair<TopicPartition, long> kv in committed)
        {
            list.Add(new TopicPartitionOffset(kv.Key.Topic, kv.Key.Partition, kv.Value));
        }

        return list;
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "Auto-commit failed: {Reason}")]
    private static partial void LogAutoCommitFailed(ILogger logger, string reason);
}
