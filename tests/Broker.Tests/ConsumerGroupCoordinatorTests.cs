using LogBroker.Broker.Groups;
using LogBroker.Broker.Metadata;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Storage;
using LogBroker.TestKit;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Broker.Tests;

/// <summary>The server-side (KIP-848) protocol: epochs, revocation before reassignment, leave and expiry.</summary>
public sealed class ConsumerGroupCoordinatorTests : IDisposable
{
    private readonly TempDirectory _dir = new("kip848");
    private readonly FakeTimeProvider _time = new();
    private readonly LogManager _logs;
    private readonly ConsumerGroupCoordinator _groups;
    private readonly Guid _topicId;
    private readonly TopicRegistry _registry;
    private readonly GroupCoordinator _classic;
    private readonly OffsetManager _offsets;

    public ConsumerGroupCoordinatorTests()
    {
        _logs = LogManager.Open(new StorageOptions { DataDirectory = _dir.Path }, _time);
        var registry = new TopicRegistry(_logs, LogConfig.Default, NullLogger<TopicRegistry>.Instance);
        _registry = registry;
        Assert.Equal(ErrorCode.None, registry.Create("orders", 4, new Dictionary<string, string?>(), validateOnly: false, out _));
        _topicId = registry.Get("orders")!.Id;
        _offsets = new OffsetManager(_time, new OffsetLog(_logs), TimeSpan.FromDays(7));
        _classic = new GroupCoordinator(_time, new GroupOptions(TimeSpan.Zero, TimeSpan.FromSeconds(6), TimeSpan.FromMinutes(30), TimeSpan.FromDays(7)), _offsets);
        _groups = new ConsumerGroupCoordinator(_time, registry, _offsets, new ConsumerGroupOptions(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10)));
    }

    public void Dispose()
    {
        _logs.Dispose();
        _dir.Dispose();
    }

    private ConsumerGroupHeartbeatResponse Beat(string member, int epoch, int[]? owned = null, bool subscribe = false) =>
        _groups.Heartbeat(new ConsumerGroupHeartbeatRequest
        {
            GroupId = "g",
            MemberId = member,
            MemberEpoch = epoch,
            SubscribedTopicNames = subscribe ? ["orders"] : null,
            TopicPartitions = owned is null ? null : [new ConsumerGroupHeartbeatRequest.TopicPartitionsData { TopicId = _topicId, Partitions = [.. owned] }],
        });

    private ConsumerGroupHeartbeatResponse StaticBeat(string member, string instance, int epoch, int[]? owned = null, string? regex = null) =>
        _groups.Heartbeat(new ConsumerGroupHeartbeatRequest
        {
            GroupId = "g",
            MemberId = member,
            InstanceId = instance,
            MemberEpoch = epoch,
            SubscribedTopicNames = epoch == 0 && regex is null ? ["orders"] : null,
            SubscribedTopicRegex = epoch == 0 ? regex : null,
            TopicPartitions = owned is null ? null : [new ConsumerGroupHeartbeatRequest.TopicPartitionsData { TopicId = _topicId, Partitions = [.. owned] }],
        });

    /// <summary>With <paramref name="regex"/> the members subscribe by <c>subscribed_topic_regex</c> (the restarted one sends it again, unchanged).</summary>
    [Theory]
    [InlineData(null)]
    [InlineData("ord.*")]
    public void A_static_member_restarted_under_a_new_member_id_keeps_its_epoch_and_partitions_and_nobody_else_moves(string? regex)
    {
        // Two static members settle: each owns two partitions.
        ConsumerGroupHeartbeatResponse a = StaticBeat("a1", "i-a", 0, [], regex);
        ConsumerGroupHeartbeatResponse b = StaticBeat("b1", "i-b", 0, [], regex);
        int[] aOwned = Partitions(a), bOwned = [];
        int aEpoch = a.MemberEpoch, bEpoch = b.MemberEpoch;
        for (int i = 0; i < 4; i++)
        {
            a = StaticBeat("a1", "i-a", aEpoch, aOwned);
            aEpoch = a.MemberEpoch;
            aOwned = a.Assignment is null ? aOwned : Partitions(a);
            b = StaticBeat("b1", "i-b", bEpoch, bOwned);
            bEpoch = b.MemberEpoch;
            bOwned = b.Assignment is null ? bOwned : Partitions(b);
        }

        Assert.Equal(2, aOwned.Length);
        Assert.Equal(2, bOwned.Length);
        int groupEpoch = _groups.Describe("g").GroupEpoch;

        // b's process restarts: a new member id, the same instance id, within the session timeout.
        ConsumerGroupHeartbeatResponse back = StaticBeat("b2", "i-b", 0, [], regex);
        Assert.Equal(0, back.ErrorCode);
        Assert.Equal(bEpoch, back.MemberEpoch);
        Assert.Equal(bOwned, Partitions(back));
        Assert.Equal(groupEpoch, _groups.Describe("g").GroupEpoch); // no new epoch: nothing to reconcile

        ConsumerGroupHeartbeatResponse aAfter = StaticBeat("a1", "i-a", aEpoch, aOwned);
        Assert.Equal(0, aAfter.ErrorCode);
        Assert.Equal(aEpoch, aAfter.MemberEpoch);
        Assert.Null(aAfter.Assignment); // a is not disturbed
        Assert.Equal(["a1", "b2"], _groups.Describe("g").Members.Select(m => m.MemberId).Order(StringComparer.Ordinal));
        Assert.Equal((short)ErrorCode.UnknownMemberId, StaticBeat("b1", "i-b", bEpoch, bOwned).ErrorCode); // the old incarnation is gone
    }

    [Fact]
    public void A_static_member_that_left_to_come_back_is_removed_once_at_its_session_timeout()
    {
        ConsumerGroupHeartbeatResponse a = StaticBeat("a1", "i-a", 0, []);
        ConsumerGroupHeartbeatResponse b = StaticBeat("b1", "i-b", 0, []);
        Assert.Equal(0, _groups.Heartbeat(new ConsumerGroupHeartbeatRequest { GroupId = "g", MemberId = "b1", InstanceId = "i-b", MemberEpoch = -2 }).ErrorCode);
        Assert.Equal(2, _groups.Describe("g").Members.Count); // it keeps its place for a while
        int epoch = _groups.Describe("g").GroupEpoch;
        for (int i = 0; i < 11; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            a = StaticBeat("a1", "i-a", a.MemberEpoch, Partitions(a).Length > 0 ? Partitions(a) : null);
            _groups.Tick();
        }

        Assert.Equal(["a1"], _groups.Describe("g").Members.Select(m => m.MemberId));
        Assert.Equal(epoch + 1, _groups.Describe("g").GroupEpoch); // removed exactly once
        _ = b;
    }

    private static int[] Partitions(ConsumerGroupHeartbeatResponse response) =>
        response.Assignment is null ? [] : [.. response.Assignment.TopicPartitions.SelectMany(t => t.Partitions).Order()];

    [Fact]
    public void A_partition_moves_to_a_new_member_only_after_its_old_owner_released_it()
    {
        ConsumerGroupHeartbeatResponse a = Beat("a", 0, subscribe: true);
        Assert.Equal([0, 1, 2, 3], Partitions(a));
        int aEpoch = a.MemberEpoch;
        Beat("a", aEpoch, owned: [0, 1, 2, 3]);

        ConsumerGroupHeartbeatResponse b = Beat("b", 0, subscribe: true);
        Assert.Empty(Partitions(b)); // everything b will get is still owned by a

        ConsumerGroupHeartbeatResponse revoke = Beat("a", aEpoch, owned: [0, 1, 2, 3]);
        int[] aKeeps = Partitions(revoke);
        Assert.Equal(2, aKeeps.Length);
        Assert.Equal(aEpoch, revoke.MemberEpoch); // a stays at its epoch until it has released the rest

        Assert.Null(Beat("b", b.MemberEpoch, owned: []).Assignment); // still nothing while a holds them

        ConsumerGroupHeartbeatResponse released = Beat("a", aEpoch, owned: aKeeps);
        Assert.True(released.MemberEpoch > aEpoch);
        int[] bGets = Partitions(Beat("b", b.MemberEpoch, owned: []));
        Assert.Equal([0, 1, 2, 3], aKeeps.Concat(bGets).Order());
    }

    [Fact]
    public void Leaving_and_expiry_give_the_partitions_back()
    {
        ConsumerGroupHeartbeatResponse a = Beat("a", 0, subscribe: true);
        Beat("a", a.MemberEpoch, owned: [0, 1, 2, 3]);
        ConsumerGroupHeartbeatResponse b = Beat("b", 0, subscribe: true);
        int[] aKeeps = Partitions(Beat("a", a.MemberEpoch, owned: [0, 1, 2, 3]));
        ConsumerGroupHeartbeatResponse aNext = Beat("a", a.MemberEpoch, owned: aKeeps);
        Beat("b", b.MemberEpoch, owned: []);

        Assert.Equal(-1, Beat("b", -1).MemberEpoch);
        Assert.Equal([0, 1, 2, 3], Partitions(Beat("a", aNext.MemberEpoch, owned: aKeeps)));

        _time.Advance(TimeSpan.FromSeconds(11));
        _groups.Tick();
        Assert.Equal((short)ErrorCode.UnknownMemberId, Beat("a", aNext.MemberEpoch).ErrorCode);
    }

    [Fact]
    public void The_range_assignor_gives_contiguous_blocks_and_describe_shows_epochs_and_targets()
    {
        ConsumerGroupHeartbeatResponse a = _groups.Heartbeat(new ConsumerGroupHeartbeatRequest { GroupId = "g", MemberId = "a", MemberEpoch = 0, SubscribedTopicNames = ["orders"], ServerAssignor = "range" });
        ConsumerGroupHeartbeatResponse b = _groups.Heartbeat(new ConsumerGroupHeartbeatRequest { GroupId = "g", MemberId = "b", MemberEpoch = 0, SubscribedTopicNames = ["orders"], ServerAssignor = "range" });
        Beat("a", a.MemberEpoch, owned: Partitions(a));            // a releases what b gets
        Beat("a", a.MemberEpoch, owned: [0, 1]);
        int[] bGets = Partitions(Beat("b", b.MemberEpoch, owned: []));

        Assert.Equal([2, 3], bGets);
        ConsumerGroupDescribeResponse.DescribedGroup described = _groups.Describe("g");
        Assert.Equal("range", described.AssignorName);
        Assert.Equal("Stable", described.GroupState);
        Assert.Equal(described.AssignmentEpoch, described.GroupEpoch);
        var memberA = described.Members.Single(m => m.MemberId == "a");
        Assert.Equal("orders", memberA.Assignment.TopicPartitions.Single().TopicName);
        Assert.Equal([0, 1], memberA.TargetAssignment.TopicPartitions.Single().Partitions);
        Assert.Equal((short)ErrorCode.GroupIdNotFound, _groups.Describe("nope").ErrorCode);
        Assert.Contains(_groups.List(), g => g.Id == "g" && g.State == "Stable");
    }

    [Fact]
    public void New_partitions_and_newly_matching_topics_are_assigned_on_the_next_heartbeat()
    {
        ConsumerGroupHeartbeatResponse a = _groups.Heartbeat(new ConsumerGroupHeartbeatRequest
        {
            GroupId = "g",
            MemberId = "a",
            MemberEpoch = 0,
            SubscribedTopicNames = ["orders"],
            SubscribedTopicRegex = "audit-.*",
        });
        Assert.Equal([0, 1, 2, 3], Partitions(a));

        Assert.Equal(ErrorCode.None, _registry.AddPartitions("orders", 6, validateOnly: false, out _));
        Assert.Equal(ErrorCode.None, _registry.Create("audit-1", 2, new Dictionary<string, string?>(), validateOnly: false, out _));
        ConsumerGroupHeartbeatResponse next = Beat("a", a.MemberEpoch, owned: [0, 1, 2, 3]);

        Assert.True(next.MemberEpoch > a.MemberEpoch);
        Assert.Equal(8, next.Assignment!.TopicPartitions.Sum(t => t.Partitions.Count)); // 6 of orders + 2 of audit-1
    }

    [Fact]
    public void Stale_epochs_are_fenced_and_commits_need_the_current_epoch()
    {
        ConsumerGroupHeartbeatResponse a = Beat("a", 0, subscribe: true);
        Assert.Equal((short)ErrorCode.FencedMemberEpoch, Beat("a", a.MemberEpoch + 5).ErrorCode);
        Assert.Equal(ErrorCode.StaleMemberEpoch, _offsets.Commit("g", "a", null, a.MemberEpoch - 1, [("orders", 0, new CommittedOffset(1, -1, null, 0))]));
        Assert.Equal(ErrorCode.None, _offsets.Commit("g", "a", null, a.MemberEpoch, [("orders", 0, new CommittedOffset(1, -1, null, 0))]));
        Assert.Equal((short)ErrorCode.UnsupportedAssignor, _groups.Heartbeat(new ConsumerGroupHeartbeatRequest { GroupId = "g", MemberId = "x", ServerAssignor = "sticky" }).ErrorCode);
    }
}
