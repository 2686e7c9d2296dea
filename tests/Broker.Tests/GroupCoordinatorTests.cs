using LogBroker.Broker.Groups;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Broker.Tests;

/// <summary>The classic group state machine driven by a fake clock: no sleeps, no sockets.</summary>
public sealed class GroupCoordinatorTests
{
    private static readonly GroupOptions Options = new(TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(6), TimeSpan.FromMinutes(30), TimeSpan.FromDays(7));
    private readonly FakeTimeProvider _time = new();
    private readonly MemoryStore _store = new();
    private readonly GroupCoordinator _groups;

    private readonly OffsetManager _offsets;

    public GroupCoordinatorTests()
    {
        _offsets = new OffsetManager(_time, _store, Options.OffsetsRetention);
        _groups = new GroupCoordinator(_time, Options, _offsets);
    }

    private static JoinGroupRequest Join(string memberId = "", string? instance = null, int sessionMs = 10_000, int rebalanceMs = 20_000, string protocol = "range") => new()
    {
        GroupId = "g",
        MemberId = memberId,
        GroupInstanceId = instance,
        SessionTimeoutMs = sessionMs,
        RebalanceTimeoutMs = rebalanceMs,
        ProtocolType = "consumer",
        Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = protocol, Metadata = new byte[] { 1, 2, 3 } }],
    };

    private void Advance(TimeSpan by)
    {
        _time.Advance(by);
        _groups.Tick();
    }

    /// <summary>KIP-394 handshake, then a join that waits for the initial delay.</summary>
    private async Task<JoinGroupResponse> JoinNewMemberAsync(string client = "c")
    {
        JoinGroupResponse required = Done(_groups.JoinAsync(Join(), 5, client, "host"));
        Assert.Equal((short)ErrorCode.MemberIdRequired, required.ErrorCode);
        Task<JoinGroupResponse> joined = _groups.JoinAsync(Join(required.MemberId), 5, client, "host");
        Assert.False(joined.IsCompleted);
        return await CompleteAsync(joined);
    }

    private async Task<T> CompleteAsync<T>(Task<T> task)
    {
        for (int i = 0; i < 100 && !task.IsCompleted; i++)
        {
            Advance(TimeSpan.FromMilliseconds(100));
        }

        Assert.True(task.IsCompleted, "the request never completed");
        return await task;
    }

    /// <summary>The result of a task that must already be complete (the fake clock drives everything synchronously).</summary>
    private static T Done<T>(Task<T> task)
    {
        Assert.True(task.IsCompleted, "expected an answer now");
        return task.GetAwaiter().GetResult();
    }

    private Task<SyncGroupResponse> Sync(JoinGroupResponse joined, params (string Member, byte[] Assignment)[] assignments) =>
        _groups.SyncAsync(new SyncGroupRequest
        {
            GroupId = "g",
            GenerationId = joined.GenerationId,
            MemberId = joined.MemberId,
            Assignments = [.. assignments.Select(a => new SyncGroupRequest.SyncGroupRequestAssignment { MemberId = a.Member, Assignment = a.Assignment })],
        });

    [Fact]
    public async Task A_first_member_needs_a_member_id_then_leads_generation_one_after_the_initial_delay()
    {
        JoinGroupResponse joined = await JoinNewMemberAsync();

        Assert.Equal(0, joined.ErrorCode);
        Assert.Equal(1, joined.GenerationId);
        Assert.Equal(joined.MemberId, joined.Leader);
        Assert.Equal("range", joined.ProtocolName);
        Assert.Single(joined.Members);
        Assert.Equal(GroupState.CompletingRebalance, _groups.Find("g")!.State);

        SyncGroupResponse synced = Done(Sync(joined, (joined.MemberId, [9])));
        Assert.Equal([9], synced.Assignment.ToArray());
        Assert.Equal(GroupState.Stable, _groups.Find("g")!.State);
    }

    [Fact]
    public async Task Followers_wait_in_sync_for_the_leaders_assignment_and_get_only_their_own()
    {
        JoinGroupResponse first = await JoinNewMemberAsync("a");
        Done(Sync(first, (first.MemberId, [1])));

        // A second member joins: the group rebalances; the first learns it from its heartbeat.
        JoinGroupResponse required = Done(_groups.JoinAsync(Join(), 5, "b", "host"));
        Task<JoinGroupResponse> secondJoin = _groups.JoinAsync(Join(required.MemberId), 5, "b", "host");
        Assert.Equal(ErrorCode.RebalanceInProgress, _groups.Heartbeat("g", first.MemberId, null, first.GenerationId));
        Task<JoinGroupResponse> firstRejoin = _groups.JoinAsync(Join(first.MemberId), 5, "a", "host");
        JoinGroupResponse leader = Done(firstRejoin);
        JoinGroupResponse follower = Done(secondJoin);

        Assert.Equal(2, leader.GenerationId);
        Assert.Equal(first.MemberId, leader.Leader);
        Assert.Equal(2, leader.Members.Count);
        Assert.Empty(follower.Members);

        Task<SyncGroupResponse> followerSync = Sync(follower);
        Assert.False(followerSync.IsCompleted);
        SyncGroupResponse leaderSync = Done(Sync(leader, (leader.MemberId, [1]), (follower.MemberId, [2, 2])));
        Assert.Equal([1], leaderSync.Assignment.ToArray());
        Assert.Equal([2, 2], Done(followerSync).Assignment.ToArray());
    }

    [Fact]
    public async Task Stale_generations_and_unknown_members_are_refused()
    {
        JoinGroupResponse joined = await JoinNewMemberAsync();
        Done(Sync(joined, (joined.MemberId, [])));

        Assert.Equal(ErrorCode.IllegalGeneration, _groups.Heartbeat("g", joined.MemberId, null, joined.GenerationId - 1));
        Assert.Equal(ErrorCode.UnknownMemberId, _groups.Heartbeat("g", "nobody", null, joined.GenerationId));
        Assert.Equal((short)ErrorCode.IllegalGeneration, Done(_groups.SyncAsync(new SyncGroupRequest { GroupId = "g", GenerationId = 99, MemberId = joined.MemberId })).ErrorCode);
        Assert.Equal((short)ErrorCode.UnknownMemberId, Done(_groups.JoinAsync(Join("nobody"), 5, "c", "h")).ErrorCode);
        Assert.Equal(ErrorCode.IllegalGeneration, _offsets.Commit("g", joined.MemberId, null, 42, [("t", 0, new CommittedOffset(1, -1, null, 0))]));
    }

    [Fact]
    public async Task A_silent_member_expires_after_its_session_timeout_and_the_group_rebalances_without_it()
    {
        JoinGroupResponse a = await JoinNewMemberAsync("a");
        Done(Sync(a, (a.MemberId, [])));
        JoinGroupResponse requiredB = Done(_groups.JoinAsync(Join(sessionMs: 6000), 5, "b", "h"));
        Task<JoinGroupResponse> bJoin = _groups.JoinAsync(Join(requiredB.MemberId, sessionMs: 6000), 5, "b", "h");
        JoinGroupResponse aRejoined = Done(_groups.JoinAsync(Join(a.MemberId), 5, "a", "h"));
        JoinGroupResponse b = Done(bJoin);
        Task<SyncGroupResponse> bSync = Sync(b);
        Done(Sync(aRejoined, (a.MemberId, []), (b.MemberId, [])));
        Done(bSync);
        Assert.Equal(2, _groups.Find("g")!.Members.Count);

        // b goes silent; a keeps heartbeating.
        for (int i = 0; i < 70; i++)
        {
            Advance(TimeSpan.FromMilliseconds(100));
            _ = _groups.Heartbeat("g", a.MemberId, null, aRejoined.GenerationId);
        }

        ClassicGroup group = _groups.Find("g")!;
        Assert.False(group.Members.ContainsKey(b.MemberId));
        Assert.Equal(GroupState.PreparingRebalance, group.State);
        Assert.Equal(ErrorCode.RebalanceInProgress, _groups.Heartbeat("g", a.MemberId, null, aRejoined.GenerationId));
        JoinGroupResponse alone = Done(_groups.JoinAsync(Join(a.MemberId), 5, "a", "h"));
        Assert.Equal(3, alone.GenerationId);
        Assert.Single(alone.Members);
    }

    /// <summary>
    /// librdkafka's 0113 <c>b_subscribe_with_cb_test</c> race, step by step (issue 16): a cooperative leader syncs,
    /// revokes and rejoins before the follower has sent its SyncGroup. As in Kafka's classic coordinator, the follower's
    /// SyncGroup for the generation that just settled then gets REBALANCE_IN_PROGRESS, not that generation's assignment;
    /// it rejoins, and the next generation gives it its partition.
    /// </summary>
    [Fact]
    public async Task A_follower_that_syncs_after_the_leader_has_rejoined_is_told_to_rejoin_and_gets_its_partition_in_the_next_generation()
    {
        byte[] p0 = [0], p1 = [1], p0p1 = [0, 1];
        JoinGroupResponse a = await JoinNewMemberAsync("a");
        Assert.Equal(p0p1, Done(Sync(a, (a.MemberId, p0p1))).Assignment);
        JoinGroupResponse requiredB = Done(_groups.JoinAsync(Join(), 5, "b", "h"));
        Task<JoinGroupResponse> bJoin = _groups.JoinAsync(Join(requiredB.MemberId), 5, "b", "h");
        Assert.Equal(ErrorCode.RebalanceInProgress, _groups.Heartbeat("g", a.MemberId, null, a.GenerationId));

        // Generation 2: a leads, keeps p1 and revokes p0; b gets nothing yet (cooperative: p0 is still a's).
        JoinGroupResponse a2 = Done(_groups.JoinAsync(Join(a.MemberId), 5, "a", "h"));
        JoinGroupResponse b2 = Done(bJoin);
        Assert.Equal(2, a2.GenerationId);
        Assert.Equal(a2.GenerationId, b2.GenerationId);
        Assert.Equal(p1, Done(Sync(a2, (a.MemberId, p1), (b2.MemberId, []))).Assignment);

        // a revoked p0 and rejoins at once; b's SyncGroup for generation 2 arrives only now.
        Task<JoinGroupResponse> aJoin3 = _groups.JoinAsync(Join(a.MemberId), 5, "a", "h");
        Assert.False(aJoin3.IsCompleted);
        Assert.Equal((short)ErrorCode.RebalanceInProgress, Done(Sync(b2)).ErrorCode);

        // b rejoins: generation 3 completes and b gets p0 in its first assignment.
        JoinGroupResponse b3 = Done(_groups.JoinAsync(Join(b2.MemberId), 5, "b", "h"));
        JoinGroupResponse a3 = Done(aJoin3);
        Assert.Equal(3, b3.GenerationId);
        Task<SyncGroupResponse> bSync3 = Sync(b3);
        Assert.Equal(p1, Done(Sync(a3, (a.MemberId, p1), (b3.MemberId, p0))).Assignment);
        Assert.Equal(p0, Done(bSync3).Assignment);
        Assert.Equal(GroupState.Stable, _groups.Find("g")!.State);
    }

    [Fact]
    public async Task A_member_that_does_not_rejoin_within_the_rebalance_timeout_is_removed()
    {
        JoinGroupResponse a = await JoinNewMemberAsync("a");
        Done(Sync(a, (a.MemberId, [])));
        JoinGroupResponse requiredB = Done(_groups.JoinAsync(Join(), 5, "b", "h"));
        Task<JoinGroupResponse> bJoin = _groups.JoinAsync(Join(requiredB.MemberId), 5, "b", "h");

        // a never rejoins (but keeps its session alive); after a's rebalance timeout (20 s) b goes on alone.
        for (int i = 0; i < 210 && !bJoin.IsCompleted; i++)
        {
            Advance(TimeSpan.FromMilliseconds(100));
            _ = _groups.Heartbeat("g", a.MemberId, null, a.GenerationId);
        }

        JoinGroupResponse b = Done(bJoin);
        Assert.Equal(b.MemberId, b.Leader);
        Assert.False(_groups.Find("g")!.Members.ContainsKey(a.MemberId));
    }

    [Fact]
    public async Task A_static_member_back_within_its_session_gets_its_assignment_without_a_rebalance()
    {
        Task<JoinGroupResponse> aJoin = _groups.JoinAsync(Join(instance: "i-a"), 5, "a", "h");
        Task<JoinGroupResponse> bJoin = _groups.JoinAsync(Join(instance: "i-b"), 5, "b", "h");
        JoinGroupResponse a = await CompleteAsync(aJoin);
        JoinGroupResponse b = await CompleteAsync(bJoin);
        JoinGroupResponse leader = a.MemberId == a.Leader ? a : b, follower = leader == a ? b : a;
        Task<SyncGroupResponse> followerSync = Sync(follower);
        Done(Sync(leader, (leader.MemberId, [1]), (follower.MemberId, [2])));
        Assert.Equal([2], Done(followerSync).Assignment.ToArray());
        string followerInstance = follower == a ? "i-a" : "i-b";

        // The follower's process restarts within its session timeout: a new member id, the same instance id.
        JoinGroupResponse back = Done(_groups.JoinAsync(Join(instance: followerInstance), 5, "c", "h"));
        Assert.Equal(0, back.ErrorCode);
        Assert.Equal(follower.GenerationId, back.GenerationId); // no new generation
        Assert.Equal(leader.MemberId, back.Leader);
        Assert.Empty(back.Members);
        Assert.Equal([2], Done(_groups.SyncAsync(new SyncGroupRequest { GroupId = "g", GenerationId = back.GenerationId, MemberId = back.MemberId, GroupInstanceId = followerInstance })).Assignment.ToArray());
        Assert.Equal(ErrorCode.None, _groups.Heartbeat("g", leader.MemberId, null, leader.GenerationId)); // the leader is not asked to rejoin
        Assert.Equal(GroupState.Stable, _groups.Find("g")!.State);
        Assert.Equal(ErrorCode.FencedInstanceId, _groups.Heartbeat("g", follower.MemberId, followerInstance, follower.GenerationId));

        // The leader restarts too: it keeps its assignment, and is told the old leader id so it does not reassign.
        string leaderInstance = followerInstance == "i-a" ? "i-b" : "i-a";
        JoinGroupResponse leaderBack = Done(_groups.JoinAsync(Join(instance: leaderInstance), 5, "c", "h"));
        Assert.Equal(leader.GenerationId, leaderBack.GenerationId);
        Assert.Equal(leader.MemberId, leaderBack.Leader);
        Assert.NotEqual(leaderBack.MemberId, leaderBack.Leader);
        Assert.Equal([1], Done(_groups.SyncAsync(new SyncGroupRequest { GroupId = "g", GenerationId = leaderBack.GenerationId, MemberId = leaderBack.MemberId })).Assignment.ToArray());
        Assert.Equal(ErrorCode.None, _groups.Heartbeat("g", back.MemberId, followerInstance, back.GenerationId));
    }

    [Fact]
    public async Task A_static_member_that_never_comes_back_is_removed_once_at_its_session_timeout_or_at_once_by_leave_with_its_instance_id()
    {
        Task<JoinGroupResponse> aJoin = _groups.JoinAsync(Join(instance: "i-a"), 5, "a", "h");
        Task<JoinGroupResponse> bJoin = _groups.JoinAsync(Join(instance: "i-b"), 5, "b", "h");
        Task<JoinGroupResponse> cJoin = _groups.JoinAsync(Join(instance: "i-c"), 5, "c", "h");
        JoinGroupResponse a = await CompleteAsync(aJoin), b = await CompleteAsync(bJoin), c = await CompleteAsync(cJoin);
        JoinGroupResponse[] all = [a, b, c];
        Task<SyncGroupResponse>[] syncs = [.. all.Where(m => m.MemberId != m.Leader).Select(m => Sync(m))];
        Done(Sync(all.Single(m => m.MemberId == m.Leader), (a.MemberId, [1]), (b.MemberId, [2]), (c.MemberId, [3])));
        Assert.All(syncs, s => Assert.True(s.IsCompleted));
        int generation = a.GenerationId;

        // c leaves for good without a LeaveGroup (a closed static consumer sends none): gone at its session timeout.
        for (int i = 0; i < 101; i++)
        {
            Advance(TimeSpan.FromMilliseconds(100));
            _ = _groups.Heartbeat("g", a.MemberId, "i-a", generation);
            _ = _groups.Heartbeat("g", b.MemberId, "i-b", generation);
        }

        Assert.Equal([a.MemberId, b.MemberId], _groups.Describe("g").Members.Select(m => m.MemberId).Order(StringComparer.Ordinal));
        Assert.Equal(ErrorCode.RebalanceInProgress, _groups.Heartbeat("g", a.MemberId, "i-a", generation));

        // b leaves by instance id alone (LeaveGroup v3+, as an admin's RemoveMembers does): removed at once, once.
        var left = _groups.Leave("g", [("", "i-b")]);
        Assert.Equal(ErrorCode.None, Assert.Single(left).Error);
        Assert.Equal(ErrorCode.UnknownMemberId, Assert.Single(_groups.Leave("g", [("", "i-b")])).Error);
        Assert.Equal([a.MemberId], _groups.Describe("g").Members.Select(m => m.MemberId));
    }

    [Fact]
    public async Task A_static_member_rejoining_with_its_instance_id_fences_the_old_incarnation()
    {
        Task<JoinGroupResponse> first = _groups.JoinAsync(Join(instance: "i-1"), 5, "c", "h");
        JoinGroupResponse old = await CompleteAsync(first); // static members skip MEMBER_ID_REQUIRED
        Assert.Equal(0, old.ErrorCode);
        Done(Sync(old, (old.MemberId, [5])));

        Task<JoinGroupResponse> restarted = _groups.JoinAsync(Join(instance: "i-1"), 5, "c", "h");
        JoinGroupResponse fresh = await CompleteAsync(restarted);

        Assert.NotEqual(old.MemberId, fresh.MemberId);
        Assert.Equal(ErrorCode.FencedInstanceId, _groups.Heartbeat("g", old.MemberId, "i-1", old.GenerationId));
        Assert.Single(_groups.Find("g")!.Members);
    }

    [Fact]
    public async Task Leaving_rebalances_the_rest_and_the_last_one_out_empties_the_group()
    {
        JoinGroupResponse a = await JoinNewMemberAsync("a");
        Done(Sync(a, (a.MemberId, [])));

        var result = _groups.Leave("g", [(a.MemberId, null), ("ghost", null)]);

        Assert.Equal([ErrorCode.None, ErrorCode.UnknownMemberId], result.Select(r => r.Error));
        Assert.Equal(GroupState.Empty, _groups.Find("g")!.State);
        Assert.Equal(ErrorCode.UnknownMemberId, _groups.Heartbeat("g", a.MemberId, null, a.GenerationId));
    }

    [Fact]
    public async Task Commits_from_standalone_consumers_need_an_empty_group_and_are_stored_before_the_answer()
    {
        Assert.Equal(ErrorCode.None, _offsets.Commit("solo", "", null, -1, [("t", 0, new CommittedOffset(10, -1, "m", 1))]));
        Assert.Equal(10, _offsets.Fetch("solo", [("t", 0)]).Single().Offset!.Offset);
        Assert.Equal("m", _store.Entries[("solo", "t", 0)].Metadata);

        JoinGroupResponse member = await JoinNewMemberAsync();
        Assert.Equal(ErrorCode.UnknownMemberId, _offsets.Commit("g", "", null, -1, [("t", 0, new CommittedOffset(1, -1, null, 1))]));
        Assert.Equal(ErrorCode.RebalanceInProgress, _offsets.Commit("g", member.MemberId, null, member.GenerationId, [("t", 0, new CommittedOffset(1, -1, null, 1))]));
        Done(Sync(member, (member.MemberId, [])));
        Assert.Equal(ErrorCode.None, _offsets.Commit("g", member.MemberId, null, member.GenerationId, [("t", 0, new CommittedOffset(1, -1, null, 1))]));
    }

    [Fact]
    public async Task Offsets_come_back_from_the_store_and_deleting_a_group_removes_them()
    {
        _offsets.Commit("keep", "", null, -1, [("t", 3, new CommittedOffset(33, 0, null, 1))]);
        var reloaded = new OffsetManager(_time, _store, Options.OffsetsRetention);
        Assert.Equal(33, reloaded.Fetch("keep", null).Single().Offset!.Offset);

        Assert.Equal(ErrorCode.None, reloaded.DeleteGroup("keep"));
        Assert.Empty(_store.Entries);
        Assert.Equal(ErrorCode.GroupIdNotFound, reloaded.DeleteGroup("keep"));
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Offsets_of_a_group_empty_for_longer_than_the_retention_expire()
    {
        JoinGroupResponse member = await JoinNewMemberAsync();
        Done(Sync(member, (member.MemberId, [])));
        Assert.Equal(ErrorCode.None, _offsets.Commit("g", member.MemberId, null, member.GenerationId, [("t", 0, new CommittedOffset(5, -1, null, 1))]));
        _groups.Leave("g", [(member.MemberId, null)]);

        _time.Advance(TimeSpan.FromDays(6));
        _groups.Tick();
        Assert.Equal(5, _offsets.Fetch("g", null).Single().Offset!.Offset); // not yet

        _time.Advance(TimeSpan.FromDays(1));
        _groups.Tick();
        Assert.Empty(_offsets.Fetch("g", null));
        Assert.Null(_offsets.Find("g"));
        Assert.Empty(_store.Entries);
    }

    [Fact]
    public async Task Members_without_a_common_protocol_are_refused()
    {
        JoinGroupResponse a = await JoinNewMemberAsync();
        Done(Sync(a, (a.MemberId, [])));
        JoinGroupResponse other = Done(_groups.JoinAsync(Join(protocol: "roundrobin"), 5, "b", "h"));
        Assert.Equal((short)ErrorCode.InconsistentGroupProtocol, other.ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidSessionTimeout, Done(_groups.JoinAsync(Join(sessionMs: 1000), 5, "b", "h")).ErrorCode);
    }
}
