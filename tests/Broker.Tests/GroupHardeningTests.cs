using LogBroker.Broker.Groups;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Broker.Tests;

/// <summary>The classic coordinator and its offsets under hostile input and a failing store.</summary>
public sealed class GroupHardeningTests
{
    private static readonly GroupOptions Options = new(TimeSpan.Zero, TimeSpan.FromSeconds(6), TimeSpan.FromMinutes(30), TimeSpan.FromDays(7));
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 10, 0, 0, 0, TimeSpan.Zero));
    private readonly MemoryStore _store = new();

    private static JoinGroupRequest Join(string group = "g") => new()
    {
        GroupId = group,
        MemberId = "",
        SessionTimeoutMs = 10_000,
        RebalanceTimeoutMs = 10_000,
        ProtocolType = "consumer",
        Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = new byte[] { 0, 0 } }],
    };

    private static CommittedOffset At(long offset, long timestamp = 0) => new(offset, -1, null, timestamp);

    [Fact]
    public void A_member_id_built_from_a_huge_client_id_still_fits_a_string()
    {
        var offsets = new OffsetManager(_time, _store, Options.OffsetsRetention);
        var groups = new GroupCoordinator(_time, Options, offsets);
        string clientId = new('c', short.MaxValue);
        JoinGroupResponse joined = Done(groups.JoinAsync(Join(), 3, clientId, "h"));
        Assert.Equal(0, joined.ErrorCode);
        Assert.Equal(GroupLimits.MaxClientIdInMemberId + 1 + 32, joined.MemberId.Length);
        Assert.StartsWith(new string('c', GroupLimits.MaxClientIdInMemberId) + "-", joined.MemberId);

        // A surrogate pair at the cut is not split.
        string emoji = new string('x', GroupLimits.MaxClientIdInMemberId - 1) + "\U0001F600" + "tail";
        Assert.False(char.IsHighSurrogate(GroupLimits.MemberIdPrefix(emoji)[^1]));
    }

    [Fact]
    public void Over_long_ids_are_refused_when_they_arrive()
    {
        var offsets = new OffsetManager(_time, _store, Options.OffsetsRetention);
        var groups = new GroupCoordinator(_time, Options, offsets);
        string huge = new('g', short.MaxValue + 1);
        Assert.Equal((short)ErrorCode.InvalidGroupId, Done(groups.JoinAsync(Join(huge), 3, "c", "h")).ErrorCode);
        Assert.Equal(ErrorCode.InvalidGroupId, offsets.Commit(huge, "", null, -1, [("t", 0, At(1))]));
        JoinGroupRequest longProtocol = Join();
        longProtocol.Protocols[0].Name = new string('p', short.MaxValue + 1);
        Assert.Equal((short)ErrorCode.InvalidRequest, Done(groups.JoinAsync(longProtocol, 3, "c", "h")).ErrorCode);
        Assert.Empty(offsets.List());
        Assert.Equal(0, _store.Appends);
    }

    [Fact]
    public void A_failing_store_answers_an_error_and_changes_nothing_in_memory()
    {
        var offsets = new OffsetManager(_time, _store, Options.OffsetsRetention);
        var groups = new GroupCoordinator(_time, Options, offsets);
        Assert.Equal(ErrorCode.None, offsets.Commit("g", "", null, -1, [("t", 0, At(5))]));
        _store.FailNext = new IOException("disk gone");
        Assert.Equal(ErrorCode.NotCoordinator, offsets.Commit("g", "", null, -1, [("t", 0, At(6))]));
        Assert.Equal(5, offsets.Fetch("g", [("t", 0)]).Single().Offset!.Offset);

        _store.FailNext = new OffsetStoreException(ErrorCode.InvalidCommitOffsetSize, "too big");
        Assert.Equal(ErrorCode.InvalidCommitOffsetSize, offsets.Commit("g", "", null, -1, [("t", 0, At(7))]));
        Assert.Equal(5, offsets.Fetch("g", [("t", 0)]).Single().Offset!.Offset);
    }

    [Fact]
    public void Offset_expiry_that_fails_is_retried_later_and_never_throws_out_of_tick()
    {
        var offsets = new OffsetManager(_time, _store, Options.OffsetsRetention);
        var groups = new GroupCoordinator(_time, Options, offsets);
        Assert.Equal(ErrorCode.None, offsets.Commit("g", "", null, -1, [("t", 0, At(5))]));
        _time.Advance(TimeSpan.FromDays(8));
        _store.FailNext = new IOException("disk gone");
        groups.Tick(); // must not throw
        Assert.Equal(5, offsets.Fetch("g", [("t", 0)]).Single().Offset!.Offset);

        groups.Tick(); // within the retry delay: not tried again
        Assert.NotNull(offsets.Find("g"));
        _time.Advance(TimeSpan.FromMinutes(2));
        groups.Tick();
        Assert.Null(offsets.Find("g"));
        Assert.Empty(_store.Entries);
    }

    [Fact]
    public void Offset_retention_runs_from_the_last_commit_recorded_not_from_the_broker_start()
    {
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _store.Entries[("old", "t", 0)] = At(1, now - (long)TimeSpan.FromDays(8).TotalMilliseconds);
        _store.Entries[("recent", "t", 0)] = At(1, now - (long)TimeSpan.FromDays(8).TotalMilliseconds);
        _store.Entries[("recent", "t", 1)] = At(1, now - (long)TimeSpan.FromDays(6).TotalMilliseconds);

        var offsets = new OffsetManager(_time, _store, Options.OffsetsRetention);
        var groups = new GroupCoordinator(_time, Options, offsets); // a restart
        groups.Tick();
        Assert.Null(offsets.Find("old"));        // 8 days since its last commit: gone at once
        Assert.NotNull(offsets.Find("recent"));  // its last commit is 6 days old
        _time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1));
        groups.Tick();
        Assert.Null(offsets.Find("recent"));
    }

    [Fact]
    public void Repeated_partitions_in_a_fetch_are_answered_once()
    {
        var offsets = new OffsetManager(_time, _store, Options.OffsetsRetention);
        var groups = new GroupCoordinator(_time, Options, offsets);
        Assert.Equal(ErrorCode.None, offsets.Commit("g", "", null, -1, [("t", 0, At(5))]));
        var asked = Enumerable.Repeat(("t", 0), 1000).Append(("t", 1));
        Assert.Equal(2, offsets.Fetch("g", asked).Count);
        Assert.Equal(2, offsets.Fetch("unknown", asked).Count);
    }

    /// <summary>The result of a task that must already be complete (the fake clock drives everything synchronously).</summary>
    private static T Done<T>(Task<T> task)
    {
        Assert.True(task.IsCompleted, "expected an answer now");
        return task.GetAwaiter().GetResult();
    }
}
