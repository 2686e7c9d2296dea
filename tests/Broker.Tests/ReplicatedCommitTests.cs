using LogBroker.Broker.Groups;
using LogBroker.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Broker.Tests;

/// <summary>
/// Cluster mode's commits (a replicated offset store): OffsetFetch sees a commit only once the offsets partition's ISR
/// has it, as in Kafka; a commit that is not replicated is never seen; and one replicated late never overwrites a later
/// commit or deletion of the same partition.
/// </summary>
public sealed class ReplicatedCommitTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly HeldStore _store = new();
    private readonly OffsetManager _offsets;

    public ReplicatedCommitTests() => _offsets = new OffsetManager(_time, _store, TimeSpan.FromDays(7));

    [Fact]
    public async Task A_commit_is_fetched_only_once_replicated_and_its_task_completes_after_it_is_applied()
    {
        Task replicated = Commit("g", 0, 10);
        Assert.Null(Fetched("g", 0)); // appended, not replicated: not visible
        Assert.False(replicated.IsCompleted);

        _store.Replicate(upTo: 1);
        await replicated;
        Assert.Equal(10, Fetched("g", 0));
    }

    [Fact]
    public async Task A_commit_not_replicated_is_never_applied_and_the_previous_one_stays()
    {
        Task first = Commit("g", 0, 10);
        _store.Replicate(upTo: 1);
        await first;

        Task second = Commit("g", 0, 20);
        _store.Fail(new OffsetStoreException(ErrorCode.CoordinatorNotAvailable, "not replicated in time"));
        var failure = await Assert.ThrowsAsync<OffsetStoreException>(() => second);
        Assert.Equal(ErrorCode.CoordinatorNotAvailable, failure.Error);
        Assert.Equal(10, Fetched("g", 0));
    }

    [Fact]
    public async Task Of_two_commits_replicated_in_either_order_the_later_one_is_kept()
    {
        Task first = Commit("g", 0, 10);
        Task second = Commit("g", 0, 20);
        _store.Replicate(only: 2); // the later one's completion runs first
        await second;
        Assert.Equal(20, Fetched("g", 0));
        _store.Replicate(only: 1);
        await first;
        Assert.Equal(20, Fetched("g", 0));
    }

    [Fact]
    public async Task A_deletion_after_a_pending_commit_is_not_undone_when_the_commit_is_replicated()
    {
        Task pending = Commit("g", 0, 10);
        Assert.Equal(ErrorCode.None, _offsets.DeleteOffsets("g", [("t", 0)]).Error);
        Assert.Equal([("g", "t", 0)], _store.Tombstones); // the pending commit's partition gets its tombstone
        _store.Replicate(upTo: 2);
        await pending;
        Assert.Null(Fetched("g", 0));
    }

    [Fact]
    public async Task A_group_with_only_pending_commits_stays_listed_and_is_forgotten_when_none_is_replicated()
    {
        Task pending = Commit("g", 0, 10);
        Assert.Contains(_offsets.List(), g => g.Id == "g");
        _store.Fail(new OffsetStoreException(ErrorCode.CoordinatorNotAvailable, "not replicated in time"));
        await Assert.ThrowsAsync<OffsetStoreException>(() => pending);
        Assert.DoesNotContain(_offsets.List(), g => g.Id == "g");
    }

    private Task Commit(string group, int partition, long offset)
    {
        ErrorCode error = _offsets.Commit(group, "", null, -1, [("t", partition, new CommittedOffset(offset, -1, null, 0))], out _, out Task? replicated);
        Assert.Equal(ErrorCode.None, error);
        return Assert.IsType<Task>(replicated, exactMatch: false);
    }

    private long? Fetched(string group, int partition) =>
        _offsets.Fetch(group, [("t", partition)]) is [(_, _, { } offset)] ? offset.Offset : null;

    /// <summary>A replicated store whose appends are replicated (or fail) when the test says.</summary>
    private sealed class HeldStore : IOffsetStore
    {
        private readonly List<(long Position, TaskCompletionSource Done)> _waiting = [];
        private long _appends;

        public bool Replicated => true;

        public List<(string, string, int)> Tombstones { get; } = [];

        public OffsetPosition Append(string group, IReadOnlyList<(string Topic, int Partition, CommittedOffset? Offset)> changes)
        {
            foreach ((string topic, int partition, CommittedOffset? offset) in changes)
            {
                if (offset is null)
                {
                    Tombstones.Add((group, topic, partition));
                }
            }

            return new OffsetPosition(++_appends);
        }

        public Task WhenDurableAsync(OffsetPosition position)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting.Add((position.Offset, done));
            return done.Task;
        }

        public void Replicate(long upTo = 0, long only = 0) => Settle(p => only > 0 ? p == only : p <= upTo, null);

        public void Fail(Exception failure) => Settle(_ => true, failure);

        public IEnumerable<(string Group, string Topic, int Partition, CommittedOffset Offset)> Load() => [];

        private void Settle(Func<long, bool> which, Exception? failure)
        {
            foreach ((long position, TaskCompletionSource done) in _waiting.ToArray())
            {
                if (which(position))
                {
                    _waiting.Remove((position, done));
                    if (failure is null)
                    {
                        done.SetResult();
                    }
                    else
                    {
                        done.SetException(failure);
                    }
                }
            }
        }
    }
}
