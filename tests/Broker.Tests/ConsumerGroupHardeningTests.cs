using LogBroker.Broker.Groups;
using LogBroker.Broker.Metadata;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Storage;
using LogBroker.TestKit;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Broker.Tests;

/// <summary>
/// KIP-848 groups under hostile or awkward use: bad and catastrophic regexes (G1), ids shared with
/// classic consumers (G2), commits checked under the fencing lock, listing each group once.
/// </summary>
public sealed class ConsumerGroupHardeningTests : IDisposable
{
    private static readonly string LongName = new('a', TopicPartition.MaxTopicLength);
    private readonly TempDirectory _dir = new("kip848-hard");
    private readonly FakeTimeProvider _time = new();
    private readonly LogManager _logs;
    private readonly TopicRegistry _registry;
    private readonly MemoryStore _store = new();
    private readonly GroupCoordinator _classic;
    private readonly OffsetManager _offsets;
    private readonly ConsumerGroupCoordinator _groups;

    public ConsumerGroupHardeningTests()
    {
        _logs = LogManager.Open(new StorageOptions { DataDirectory = _dir.Path }, _time);
        _registry = new TopicRegistry(_logs, LogConfig.Default, NullLogger<TopicRegistry>.Instance);
        Assert.Equal(ErrorCode.None, _registry.Create("orders", 2, new Dictionary<string, string?>(), validateOnly: false, out _));
        _offsets = new OffsetManager(_time, _store, TimeSpan.FromDays(7));
        _classic = new GroupCoordinator(_time, new GroupOptions(TimeSpan.Zero, TimeSpan.FromSeconds(6), TimeSpan.FromMinutes(30), TimeSpan.FromDays(7)), _offsets);
        _groups = new ConsumerGroupCoordinator(_time, _registry, _offsets, new ConsumerGroupOptions(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10)));
    }

    public void Dispose()
    {
        _logs.Dispose();
        _dir.Dispose();
    }

    private ConsumerGroupHeartbeatResponse Beat(string member, int epoch, string? regex = null, bool names = false, string group = "g") =>
        _groups.Heartbeat(new ConsumerGroupHeartbeatRequest
        {
            GroupId = group,
            MemberId = member,
            MemberEpoch = epoch,
            SubscribedTopicNames = names ? ["orders"] : null,
            SubscribedTopicRegex = regex,
            TopicPartitions = [],
        });

    private static int Count(ConsumerGroupHeartbeatResponse response) =>
        response.Assignment is null ? 0 : response.Assignment.TopicPartitions.Sum(t => t.Partitions.Count);

    [Theory]
    [InlineData("(")]          // does not parse
    [InlineData("a)|(b")]      // would escape the anchoring group
    [InlineData(@"(a)\1")]     // backreference: no linear-time engine runs it (RE2J refuses it too)
    [InlineData("(?=a)a")]     // lookahead: likewise
    public void An_invalid_regex_fails_only_that_members_heartbeat(string pattern)
    {
        ConsumerGroupHeartbeatResponse good = Beat("good", 0, names: true);
        Assert.Equal(0, good.ErrorCode);

        ConsumerGroupHeartbeatResponse bad = Beat("bad", 0, regex: pattern);
        Assert.Equal((short)ErrorCode.InvalidRegularExpression, bad.ErrorCode);
        Assert.False(ErrorCode.InvalidRegularExpression.IsRetriable());

        // Nothing of the bad member was kept; the good one goes on heartbeating and keeps both partitions.
        ConsumerGroupDescribeResponse.DescribedGroup described = _groups.Describe("g");
        Assert.Equal(["good"], described.Members.Select(m => m.MemberId));
        ConsumerGroupHeartbeatResponse again = Beat("good", good.MemberEpoch);
        Assert.Equal(0, again.ErrorCode);
        Assert.Equal(good.MemberEpoch, again.MemberEpoch);
    }

    [Fact]
    public void An_existing_member_that_changes_to_an_invalid_regex_keeps_its_old_subscription()
    {
        ConsumerGroupHeartbeatResponse a = Beat("a", 0, regex: "ord.*");
        Assert.Equal(2, Count(a));
        Assert.Equal((short)ErrorCode.InvalidRegularExpression, Beat("a", a.MemberEpoch, regex: "[").ErrorCode);
        Assert.Equal("ord.*", Assert.Single(_groups.Describe("g").Members).SubscribedTopicRegex);
    }

    [Fact]
    public void A_catastrophic_regex_runs_in_linear_time_and_matches_nothing_it_should_not()
    {
        Assert.Equal(ErrorCode.None, _registry.Create(LongName, 1, new Dictionary<string, string?>(), validateOnly: false, out _));
        Assert.Equal(ErrorCode.None, _registry.Create(LongName[..^1] + "b", 1, new Dictionary<string, string?>(), validateOnly: false, out _));

        ConsumerGroupHeartbeatResponse evil = Beat("evil", 0, regex: "(a+)+b");
        Assert.Equal(0, evil.ErrorCode);
        ConsumerGroupHeartbeatResponse good = Beat("good", 0, names: true);
        Assert.Equal(0, good.ErrorCode);
        int evilEpoch = evil.MemberEpoch, goodEpoch = good.MemberEpoch;
        for (int i = 0; i < 20; i++)
        {
            ConsumerGroupHeartbeatResponse g = Beat("good", goodEpoch);
            ConsumerGroupHeartbeatResponse e = Beat("evil", evilEpoch);
            Assert.Equal(0, g.ErrorCode);
            Assert.Equal(0, e.ErrorCode);
            (goodEpoch, evilEpoch) = (g.MemberEpoch, e.MemberEpoch);
        }

        // "aaa…ab" matches, "aaa…a" (249 a's, the backtracking engine's 2^249 case) does not; no match timed out.
        ConsumerGroupDescribeResponse.Member described = _groups.Describe("g").Members.Single(m => m.MemberId == "evil");
        Assert.Equal([LongName[..^1] + "b"], described.TargetAssignment.TopicPartitions.Select(t => t.TopicName));
        Assert.Equal(0, _groups.RegexTimeouts);
    }

    [Fact]
    public void An_over_long_regex_or_id_is_refused_with_an_error_code()
    {
        Assert.Equal((short)ErrorCode.InvalidRegularExpression, Beat("a", 0, regex: new string('a', TopicRegex.MaxPatternLength + 1)).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidGroupId, Beat("a", 0, names: true, group: new string('g', 40_000)).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidRequest, Beat(new string('m', 40_000), 0, names: true).ErrorCode);
        Assert.Empty(_offsets.List());
    }

    [Fact]
    public void After_the_last_member_leaves_the_id_is_classic_again_and_keeps_its_offsets()
    {
        ConsumerGroupHeartbeatResponse a = Beat("a", 0, names: true);
        Assert.Equal(ErrorCode.None, _offsets.Commit("g", "a", null, a.MemberEpoch, [("orders", 0, new CommittedOffset(7, -1, null, 0))]));
        Assert.True(_groups.Owns("g"));
        var listed = _offsets.List();
        Assert.Equal([("g", "Stable", "consumer", "consumer")], listed); // once, as a consumer group

        // While the server-side group has members, classic consumers cannot take the id.
        JoinGroupResponse refused = Done(_classic.JoinAsync(ClassicJoin(), 3, "c", "h"));
        Assert.Equal((short)ErrorCode.InconsistentGroupProtocol, refused.ErrorCode);
        Assert.Equal(ErrorCode.UnknownMemberId, _offsets.Commit("g", "", null, -1, [("orders", 0, new CommittedOffset(1, -1, null, 0))]));

        Assert.Equal(-1, Beat("a", -1).MemberEpoch);
        Assert.False(_groups.Owns("g"));
        Assert.Equal(7, _offsets.Fetch("g", [("orders", 0)]).Single().Offset!.Offset);
        Assert.Equal([("g", "Empty", "", "classic")], _offsets.List());

        // A standalone (admin) commit and a classic member both work on the id now.
        Assert.Equal(ErrorCode.None, _offsets.Commit("g", "", null, -1, [("orders", 0, new CommittedOffset(9, -1, null, 0))]));
        JoinGroupResponse joined = Done(_classic.JoinAsync(ClassicJoin(), 3, "c", "h"));
        Assert.Equal(0, joined.ErrorCode);
        Assert.Equal(0, Done(_classic.SyncAsync(new SyncGroupRequest { GroupId = "g", GenerationId = joined.GenerationId, MemberId = joined.MemberId })).ErrorCode);
        Assert.Equal(ErrorCode.None, _offsets.Commit("g", joined.MemberId, null, joined.GenerationId, [("orders", 1, new CommittedOffset(3, -1, null, 0))]));

        // And now a server-side member cannot take it while the classic member is there.
        Assert.Equal((short)ErrorCode.GroupIdNotFound, Beat("b", 0, names: true).ErrorCode);
    }

    [Fact]
    public void A_server_side_group_whose_members_expire_is_removed_and_an_unused_id_leaves_nothing()
    {
        Beat("a", 0, names: true);
        _time.Advance(TimeSpan.FromSeconds(11));
        _groups.Tick();
        Assert.False(_groups.Owns("g"));
        Assert.Empty(_offsets.List()); // no offsets were committed: nothing is left of the id
        Assert.Null(_offsets.Find("g"));

        // Heartbeats that are refused or leave create nothing either.
        Assert.Equal((short)ErrorCode.UnknownMemberId, Beat("x", 3, group: "other").ErrorCode);
        Beat("x", -1, group: "other");
        Assert.Empty(_offsets.List());
    }

    [Fact]
    public void A_fenced_members_commit_is_refused_under_the_same_lock_that_fenced_it()
    {
        ConsumerGroupHeartbeatResponse a = Beat("a", 0, names: true);
        Beat("a", -1); // leaves: its epoch is gone; the next owner commits
        ConsumerGroupHeartbeatResponse b = Beat("b", 0, names: true);
        Assert.Equal(ErrorCode.None, _offsets.Commit("g", "b", null, b.MemberEpoch, [("orders", 0, new CommittedOffset(50, -1, null, 0))]));
        Assert.Equal(ErrorCode.UnknownMemberId, _offsets.Commit("g", "a", null, a.MemberEpoch, [("orders", 0, new CommittedOffset(10, -1, null, 0))]));
        Assert.Equal(50, _offsets.Fetch("g", [("orders", 0)]).Single().Offset!.Offset);
    }

    [Fact]
    public async Task Fencing_cannot_happen_between_a_commits_epoch_check_and_its_store()
    {
        ConsumerGroupHeartbeatResponse a = Beat("a", 0, names: true);
        Task? leave = null;
        bool leftDuringStore = true;
        _store.OnAppend = () =>
        {
            _store.OnAppend = null;
            (leave, leftDuringStore) = StartAndWait(() => Beat("a", -1), TimeSpan.FromMilliseconds(300)); // fences "a" from another thread
        };

        Assert.Equal(ErrorCode.None, _offsets.Commit("g", "a", null, a.MemberEpoch, [("orders", 0, new CommittedOffset(10, -1, null, 0))]));
        Assert.False(leftDuringStore, "the member was fenced while its commit, already checked, was being stored");
        await leave!.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.False(_groups.Owns("g"));
    }

    /// <summary>Starts <paramref name="action"/> on another thread; whether it finished within <paramref name="wait"/>.</summary>
    private static (Task Task, bool Finished) StartAndWait(Action action, TimeSpan wait)
    {
        Task task = Task.Run(action, CancellationToken.None);
        return (task, task.Wait(wait));
    }

    [Fact]
    public void Steady_heartbeats_do_not_match_regexes_again()
    {
        ConsumerGroupHeartbeatResponse a = Beat("a", 0, regex: "ord.*");
        int bEpoch = Beat("b", 0, names: true).MemberEpoch;
        a = Beat("a", a.MemberEpoch);
        long evaluations = _groups.RegexEvaluations;
        for (int i = 0; i < 5; i++)
        {
            a = Beat("a", a.MemberEpoch);
            Assert.Equal(0, a.ErrorCode);
            ConsumerGroupHeartbeatResponse b = Beat("b", bEpoch);
            Assert.Equal(0, b.ErrorCode);
            bEpoch = b.MemberEpoch;
        }

        Assert.Equal(evaluations, _groups.RegexEvaluations); // nothing changed: the cached matches answered
        Beat("b", -1);
        int epoch = a.MemberEpoch;
        Assert.Equal(ErrorCode.None, _registry.Create("orders-2", 3, new Dictionary<string, string?>(), validateOnly: false, out _));
        ConsumerGroupHeartbeatResponse next = Beat("a", a.MemberEpoch, regex: null);
        Assert.True(next.MemberEpoch > epoch); // a new matching topic is still seen at the next heartbeat
        Assert.Equal(5, Count(next));
    }

    private static JoinGroupRequest ClassicJoin() => new()
    {
        GroupId = "g",
        MemberId = "",
        SessionTimeoutMs = 10_000,
        RebalanceTimeoutMs = 10_000,
        ProtocolType = "consumer",
        Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = new byte[] { 0, 0 } }],
    };

    /// <summary>The result of a task that must already be complete (the fake clock drives everything synchronously).</summary>
    private static T Done<T>(Task<T> task)
    {
        Assert.True(task.IsCompleted, "expected an answer now");
        return task.GetAwaiter().GetResult();
    }
}
