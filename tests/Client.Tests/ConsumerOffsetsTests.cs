using LogBroker.Client.Consumer;
using LogBroker.Protocol;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Client.Tests;

/// <summary>
/// The consumer's commit and position logic on a fake clock and fake group offsets: the auto-commit
/// interval, what a commit carries, and how a position is resolved. No sockets, no sleeps.
/// </summary>
public sealed class ConsumerOffsetsTests
{
    private static readonly TopicPartition P0 = new("t", 0);
    private static readonly TopicPartition P1 = new("t", 1);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly FakeOffsets _offsets = new();
    private readonly AssignmentState _assignment = new();

    private ConsumerOptions Options(AutoOffsetReset reset = AutoOffsetReset.Earliest, bool autoCommit = true) => new()
    {
        TimeProvider = _time,
        GroupId = "g",
        EnableAutoCommit = autoCommit,
        AutoCommitInterval = TimeSpan.FromSeconds(5),
        AutoOffsetReset = reset,
    };

    private OffsetCommitter Committer(ConsumerOptions options) => new(options, _assignment, _offsets, () => (3, "m"), NullLogger.Instance);

    /// <summary>Assigns <paramref name="partition"/> at <paramref name="position"/> and delivers up to <paramref name="consumedTo"/>.</summary>
    private void Consumed(TopicPartition partition, long position, long consumedTo)
    {
        _assignment.Add([partition]);
        List<PendingPosition> pending = _assignment.Unpositioned();
        _assignment.Resolve(pending, new Dictionary<TopicPartition, long> { [partition] = position });
        PendingPosition p = pending.Single(x => x.Partition == partition);
        Assert.True(_assignment.TryDeliver(partition, p.Epoch, consumedTo - 1));
    }

    [Fact]
    public async Task Auto_commit_waits_for_the_interval_then_commits_the_changed_positions_once()
    {
        OffsetCommitter committer = Committer(Options());
        Consumed(P0, 0, 10);
        CancellationToken ct = TestContext.Current.CancellationToken;

        await committer.AutoCommitIfDueAsync(ct);
        _time.Advance(TimeSpan.FromMilliseconds(4999));
        await committer.AutoCommitIfDueAsync(ct);
        Assert.Empty(_offsets.Commits);
        Assert.Equal(TimeSpan.FromMilliseconds(1), committer.UntilAutoCommit);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        await committer.AutoCommitIfDueAsync(ct);
        (string group, (int generation, string member), List<TopicPartitionOffset> offsets) = Assert.Single(_offsets.Commits);
        Assert.Equal(("g", 3, "m"), (group, generation, member));
        Assert.Equal([new TopicPartitionOffset("t", 0, 10)], offsets);

        // Due again only after another interval, and then only if something changed.
        await committer.AutoCommitIfDueAsync(ct);
        _time.Advance(TimeSpan.FromSeconds(5));
        await committer.AutoCommitIfDueAsync(ct);
        Assert.Single(_offsets.Commits);

        Consumed(P1, 100, 120);
        _time.Advance(TimeSpan.FromSeconds(5));
        await committer.AutoCommitIfDueAsync(ct);
        Assert.Equal([new TopicPartitionOffset("t", 1, 120)], _offsets.Commits[1].Offsets);
    }

    [Fact]
    public async Task Auto_commit_does_nothing_when_disabled()
    {
        OffsetCommitter committer = Committer(Options(autoCommit: false));
        Consumed(P0, 0, 10);
        _time.Advance(TimeSpan.FromMinutes(1));
        await committer.AutoCommitIfDueAsync(TestContext.Current.CancellationToken);
        await committer.CommitBeforeRevokeAsync([P0], TestContext.Current.CancellationToken);
        Assert.Empty(_offsets.Commits);
    }

    [Fact]
    public async Task A_revocation_commits_the_revoked_partitions_that_moved_and_nothing_else()
    {
        OffsetCommitter committer = Committer(Options());
        Consumed(P0, 0, 10);
        Consumed(P1, 0, 7);
        await committer.CommitBeforeRevokeAsync([P1], TestContext.Current.CancellationToken);
        Assert.Equal([new TopicPartitionOffset("t", 1, 7)], Assert.Single(_offsets.Commits).Offsets);
    }

    [Fact]
    public async Task A_failed_auto_commit_is_logged_and_retried_at_the_next_interval()
    {
        OffsetCommitter committer = Committer(Options());
        Consumed(P0, 0, 10);
        _offsets.FailCommits = true;
        _time.Advance(TimeSpan.FromSeconds(5));
        await committer.AutoCommitIfDueAsync(TestContext.Current.CancellationToken);
        _offsets.FailCommits = false;
        _time.Advance(TimeSpan.FromSeconds(5));
        await committer.AutoCommitIfDueAsync(TestContext.Current.CancellationToken);
        Assert.Equal(2, _offsets.Commits.Count);
    }

    [Fact]
    public async Task A_position_comes_from_the_committed_offset_else_from_the_reset_policy()
    {
        _offsets.Committed[P0] = 42;
        _offsets.Committed[P1] = -1;
        _offsets.Ends[(P1, Offsets.Beginning)] = 3;
        _assignment.Add([P0, P1]);
        await new PositionResolver(Options(), _assignment, _offsets, e => throw e).ResolveAsync(TestContext.Current.CancellationToken);

        Assert.Equal(42, _assignment.Position(P0));
        Assert.Equal(3, _assignment.Position(P1));
        Assert.Equal([P1], Assert.Single(_offsets.Listed).Partitions);
    }

    [Fact]
    public async Task Latest_reset_asks_for_the_log_end_and_an_explicit_offset_needs_no_lookup()
    {
        _offsets.Ends[(P0, Offsets.End)] = 900;
        _assignment.Replace([new TopicPartitionOffset("t", 0, Offsets.Stored), new TopicPartitionOffset("t", 1, 17)]);
        await new PositionResolver(Options(AutoOffsetReset.Latest), _assignment, _offsets, e => throw e).ResolveAsync(TestContext.Current.CancellationToken);

        Assert.Equal(900, _assignment.Position(P0));
        Assert.Equal(17, _assignment.Position(P1));
        Assert.Equal(P0, Assert.Single(_offsets.FetchedCommitted));
    }

    [Fact]
    public async Task After_offset_out_of_range_the_reset_policy_applies_and_the_committed_offset_is_not_used()
    {
        _offsets.Committed[P0] = 42;
        _offsets.Ends[(P0, Offsets.Beginning)] = 50;
        _assignment.Add([P0]);
        int epoch = _assignment.Unpositioned().Single().Epoch; // resolving keeps the epoch; fetches carry it
        var resolver = new PositionResolver(Options(), _assignment, _offsets, e => throw e);
        await resolver.ResolveAsync(TestContext.Current.CancellationToken);
        Assert.Equal(42, _assignment.Position(P0));

        Assert.True(_assignment.ResetOutOfRange(P0, epoch));
        await resolver.ResolveAsync(TestContext.Current.CancellationToken);
        Assert.Equal(50, _assignment.Position(P0));
    }

    [Fact]
    public async Task Reset_policy_error_without_a_committed_offset_stops_the_consumer()
    {
        _offsets.Committed[P0] = -1;
        _assignment.Add([P0]);
        KafkaException? fatal = null;
        await new PositionResolver(Options(AutoOffsetReset.Error), _assignment, _offsets, e => fatal = e).ResolveAsync(TestContext.Current.CancellationToken);

        Assert.Equal(ErrorCode.OffsetOutOfRange, fatal?.ErrorCode);
        Assert.Null(_assignment.Position(P0));
    }

    [Fact]
    public async Task A_seek_while_the_position_is_being_resolved_wins_over_the_lookup()
    {
        _offsets.Committed[P0] = 42;
        _assignment.Add([P0]);
        _offsets.DuringFetch = () => _assignment.Seek(new TopicPartitionOffset("t", 0, 7));
        var resolver = new PositionResolver(Options(), _assignment, _offsets, e => throw e);
        await resolver.ResolveAsync(TestContext.Current.CancellationToken);
        Assert.Null(_assignment.Position(P0));

        await resolver.ResolveAsync(TestContext.Current.CancellationToken);
        Assert.Equal(7, _assignment.Position(P0));
    }

    private sealed class FakeOffsets : IGroupOffsets
    {
        public Dictionary<TopicPartition, long> Committed { get; } = [];

        public Dictionary<(TopicPartition, long), long> Ends { get; } = [];

        public List<(string Group, (int, string) Identity, List<TopicPartitionOffset> Offsets)> Commits { get; } = [];

        public List<(List<TopicPartition> Partitions, long Timestamp)> Listed { get; } = [];

        public List<TopicPartition> FetchedCommitted { get; } = [];

        public bool FailCommits { get; set; }

        public Action? DuringFetch { get; set; }

        public Task<Dictionary<TopicPartition, long>> FetchCommittedAsync(string group, List<TopicPartition> partitions, CancellationToken cancellationToken)
        {
            FetchedCommitted.AddRange(partitions);
            DuringFetch?.Invoke();
            DuringFetch = null;
            var result = new Dictionary<TopicPartition, long>();
            foreach (TopicPartition tp in partitions)
            {
                result[tp] = Committed.TryGetValue(tp, out long o) ? o : -1;
            }

            return Task.FromResult(result);
        }

        public Task<Dictionary<TopicPartition, long>> ListOffsetsAsync(List<TopicPartition> partitions, long timestamp, CancellationToken cancellationToken)
        {
            if (partitions.Count > 0)
            {
                Listed.Add(([.. partitions], timestamp));
            }

            var result = new Dictionary<TopicPartition, long>();
            foreach (TopicPartition tp in partitions)
            {
                if (Ends.TryGetValue((tp, timestamp), out long o))
                {
                    result[tp] = o;
                }
            }

            return Task.FromResult(result);
        }

        public Task CommitAsync(string group, Func<(int GenerationOrEpoch, string MemberId)> identity, List<TopicPartitionOffset> offsets, CancellationToken cancellationToken)
        {
            Commits.Add((group, identity(), [.. offsets]));
            return FailCommits ? Task.FromException(new KafkaException(ErrorCode.CoordinatorNotAvailable, "down")) : Task.CompletedTask;
        }
    }
}
