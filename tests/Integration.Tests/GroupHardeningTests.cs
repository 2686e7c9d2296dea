using System.Buffers.Binary;
using LogBroker.Broker.Groups;
using LogBroker.Broker.Metadata;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.Storage;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests;

/// <summary>
/// Consumer groups against a real broker over raw frames: a hostile KIP-848 member, a group id moving
/// between protocols, a huge client id, duplicate entries, and commits that wait for the fsync.
/// </summary>
[Collection(BrokerCollectionDefinition.Name)]
public sealed class GroupHardeningTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private string CreateTopic(string name, int partitions)
    {
        ErrorCode created = broker.Service<TopicRegistry>().Create(name, partitions, new Dictionary<string, string?>(), validateOnly: false, out _);
        Assert.True(created is ErrorCode.None or ErrorCode.TopicAlreadyExists, created.ToString());
        return name;
    }

    private static ConsumerGroupHeartbeatRequest Heartbeat(string group, string member, int epoch, string? topic = null, string? regex = null) => new()
    {
        GroupId = group,
        MemberId = member,
        MemberEpoch = epoch,
        RebalanceTimeoutMs = 10_000,
        SubscribedTopicNames = topic is null ? (epoch == 0 ? [] : null) : [topic],
        SubscribedTopicRegex = regex,
        TopicPartitions = epoch == 0 ? [] : null,
    };

    private static Task<ConsumerGroupHeartbeatResponse> BeatAsync(RawConnection connection, ConsumerGroupHeartbeatRequest request) =>
        connection.RequestAsync<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 1, request, Patience);

    [Fact]
    public async Task An_invalid_or_catastrophic_regex_member_gets_its_own_error_and_the_group_goes_on()
    {
        string topic = CreateTopic(BrokerFixture.UniqueTopic("regex"), 2);
        CreateTopic(new string('a', TopicPartition.MaxTopicLength), 1); // the backtracking engine's 2^249 case for (a+)+b
        string group = "regex-" + Guid.NewGuid().ToString("N");
        using RawConnection good = await RawConnection.OpenAsync(broker.Port);
        using RawConnection bad = await RawConnection.OpenAsync(broker.Port);
        using RawConnection evil = await RawConnection.OpenAsync(broker.Port);

        ConsumerGroupHeartbeatResponse joined = await BeatAsync(good, Heartbeat(group, "good", 0, topic));
        Assert.Equal(0, joined.ErrorCode);

        ConsumerGroupHeartbeatResponse refused = await BeatAsync(bad, Heartbeat(group, "bad", 0, regex: "("));
        Assert.Equal((short)ErrorCode.InvalidRegularExpression, refused.ErrorCode);
        Assert.Equal(130, refused.ErrorCode);

        ConsumerGroupHeartbeatResponse slow = await BeatAsync(evil, Heartbeat(group, "evil", 0, regex: "(a+)+b"));
        Assert.Equal(0, slow.ErrorCode);

        // The good member keeps heartbeating without errors and owns its topic; the evil one owns nothing.
        int epoch = joined.MemberEpoch, evilEpoch = slow.MemberEpoch;
        for (int i = 0; i < 5; i++)
        {
            ConsumerGroupHeartbeatResponse beat = await BeatAsync(good, Heartbeat(group, "good", epoch));
            Assert.Equal(0, beat.ErrorCode);
            epoch = beat.MemberEpoch;
            ConsumerGroupHeartbeatResponse evilBeat = await BeatAsync(evil, Heartbeat(group, "evil", evilEpoch));
            Assert.Equal(0, evilBeat.ErrorCode);
            evilEpoch = evilBeat.MemberEpoch;
        }

        ConsumerGroupDescribeResponse described = await good.RequestAsync<ConsumerGroupDescribeResponse>(ApiKey.ConsumerGroupDescribe, 0,
            new ConsumerGroupDescribeRequest { GroupIds = [group] }, Patience);
        ConsumerGroupDescribeResponse.DescribedGroup g = Assert.Single(described.Groups);
        Assert.Equal(["evil", "good"], g.Members.Select(m => m.MemberId).Order(StringComparer.Ordinal));
        Assert.Empty(g.Members.Single(m => m.MemberId == "evil").TargetAssignment.TopicPartitions);
        Assert.Equal(2, g.Members.Single(m => m.MemberId == "good").TargetAssignment.TopicPartitions.Sum(t => t.Partitions.Count));
        Assert.Equal(0, broker.Service<ConsumerGroupCoordinator>().RegexTimeouts);

        // The refused member's connection still works: it can join with a valid subscription.
        Assert.Equal(0, (await BeatAsync(bad, Heartbeat(group, "bad", 0, topic))).ErrorCode);
        foreach ((RawConnection c, string m) in new[] { (good, "good"), (bad, "bad"), (evil, "evil") })
        {
            await BeatAsync(c, Heartbeat(group, m, -1));
        }
    }

    [Fact]
    public async Task After_a_KIP_848_group_leaves_classic_commits_and_joins_work_on_its_id_and_it_is_listed_once()
    {
        string topic = CreateTopic(BrokerFixture.UniqueTopic("g2"), 1);
        string group = "g2-" + Guid.NewGuid().ToString("N");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);

        ConsumerGroupHeartbeatResponse joined = await BeatAsync(connection, Heartbeat(group, "m", 0, topic));
        Assert.Equal(0, joined.ErrorCode);
        OffsetCommitResponse committed = await CommitAsync(connection, group, "m", joined.MemberEpoch, topic, 0, 11, version: 9);
        Assert.Equal(0, committed.Topics.Single().Partitions.Single().ErrorCode);

        ListGroupsResponse listed = await connection.RequestAsync<ListGroupsResponse>(ApiKey.ListGroups, 5, new ListGroupsRequest(), Patience);
        ListGroupsResponse.ListedGroup once = Assert.Single(listed.Groups, l => l.GroupId == group);
        Assert.Equal("consumer", once.GroupType);

        Assert.Equal(-1, (await BeatAsync(connection, Heartbeat(group, "m", -1))).MemberEpoch);
        Assert.False(broker.Service<ConsumerGroupCoordinator>().Owns(group));

        // A standalone commit (generation -1, no member), then a classic member joins and commits.
        Assert.Equal(0, (await CommitAsync(connection, group, "", -1, topic, 0, 12, version: 2)).Topics.Single().Partitions.Single().ErrorCode);
        JoinGroupResponse member = await connection.RequestAsync<JoinGroupResponse>(ApiKey.JoinGroup, 3, new JoinGroupRequest
        {
            GroupId = group,
            SessionTimeoutMs = 10_000,
            RebalanceTimeoutMs = 10_000,
            ProtocolType = "consumer",
            Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = new byte[] { 0, 0 } }],
        }, Patience);
        Assert.Equal(0, member.ErrorCode);
        SyncGroupResponse synced = await connection.RequestAsync<SyncGroupResponse>(ApiKey.SyncGroup, 2,
            new SyncGroupRequest { GroupId = group, GenerationId = member.GenerationId, MemberId = member.MemberId }, Patience);
        Assert.Equal(0, synced.ErrorCode);
        Assert.Equal(0, (await CommitAsync(connection, group, member.MemberId, member.GenerationId, topic, 0, 13, version: 2)).Topics.Single().Partitions.Single().ErrorCode);

        OffsetFetchResponse fetched = await connection.RequestAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, 1,
            new OffsetFetchRequest { GroupId = group, Topics = [new OffsetFetchRequest.OffsetFetchRequestTopic { Name = topic, PartitionIndexes = [0] }] }, Patience);
        Assert.Equal(13, fetched.Topics.Single().Partitions.Single().CommittedOffset);
        await connection.RequestAsync<LeaveGroupResponse>(ApiKey.LeaveGroup, 1, new LeaveGroupRequest { GroupId = group, MemberId = member.MemberId }, Patience);
    }

    [Fact]
    public async Task A_JoinGroup_with_a_32_KB_client_id_is_answered_and_the_other_member_and_the_connection_are_unaffected()
    {
        string group = "huge-client-" + Guid.NewGuid().ToString("N");
        string clientId = new('c', short.MaxValue); // the longest a request header can carry
        using RawConnection huge = await RawConnection.OpenAsync(broker.Port);
        using RawConnection normal = await RawConnection.OpenAsync(broker.Port);
        var join = new JoinGroupRequest
        {
            GroupId = group,
            SessionTimeoutMs = 10_000,
            RebalanceTimeoutMs = 10_000,
            ProtocolType = "consumer",
            Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = new byte[] { 0, 0 } }],
        };
        await huge.SendRawAsync(Frame(ApiKey.JoinGroup, 1, 7, clientId, join));
        Task<JoinGroupResponse> other = normal.RequestAsync<JoinGroupResponse>(ApiKey.JoinGroup, 1, join, Patience);

        JoinGroupResponse hugeAnswer = Decode<JoinGroupResponse>(await huge.ReceiveAsync(Patience), ApiKey.JoinGroup, 1);
        JoinGroupResponse otherAnswer = await other;
        Assert.Equal(0, hugeAnswer.ErrorCode);
        Assert.Equal(0, otherAnswer.ErrorCode);
        Assert.InRange(hugeAnswer.MemberId.Length, 1, GroupLimits.MaxClientIdInMemberId + 33);
        JoinGroupResponse leader = hugeAnswer.Leader == hugeAnswer.MemberId ? hugeAnswer : otherAnswer;
        Assert.Equal(2, leader.Members.Count); // the leader's answer lists both ids

        // The describing admin gets the 32 KB client id back (a STRING can hold it), and both connections still answer.
        using RawConnection admin = await RawConnection.OpenAsync(broker.Port);
        DescribeGroupsResponse described = await admin.RequestAsync<DescribeGroupsResponse>(ApiKey.DescribeGroups, 0, new DescribeGroupsRequest { Groups = [group] }, Patience);
        Assert.Contains(described.Groups.Single().Members, m => m.ClientId == clientId);
        await huge.SendRawAsync(Frame(ApiKey.ApiVersions, 0, 8, clientId, new ApiVersionsRequest()));
        Assert.Equal(8, BinaryPrimitives.ReadInt32BigEndian(await huge.ReceiveAsync(Patience)));
        Assert.NotEmpty((await normal.RequestAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 0, new ApiVersionsRequest(), Patience)).ApiKeys);
    }

    [Fact]
    public async Task Duplicate_entries_are_answered_once()
    {
        string topic = CreateTopic(BrokerFixture.UniqueTopic("dup"), 1);
        string group = "dup-" + Guid.NewGuid().ToString("N");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        Assert.Equal(0, (await CommitAsync(connection, group, "", -1, topic, 0, 5, version: 2)).Topics.Single().Partitions.Single().ErrorCode);

        DescribeGroupsResponse described = await connection.RequestAsync<DescribeGroupsResponse>(ApiKey.DescribeGroups, 0,
            new DescribeGroupsRequest { Groups = [.. Enumerable.Repeat(group, 1000)] }, Patience);
        Assert.Equal(group, Assert.Single(described.Groups).GroupId);

        OffsetFetchResponse many = await connection.RequestAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, 8, new OffsetFetchRequest
        {
            Groups = [.. Enumerable.Range(0, 500).Select(_ => new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = null })],
        }, Patience);
        Assert.Equal(5, Assert.Single(Assert.Single(Assert.Single(many.Groups).Topics).Partitions).CommittedOffset);

        OffsetFetchResponse partitions = await connection.RequestAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, 1, new OffsetFetchRequest
        {
            GroupId = group,
            Topics = [.. Enumerable.Range(0, 100).Select(_ => new OffsetFetchRequest.OffsetFetchRequestTopic { Name = topic, PartitionIndexes = [0, 0, 0] })],
        }, Patience);
        Assert.Equal(5, Assert.Single(Assert.Single(partitions.Topics).Partitions).CommittedOffset);
    }

    [Fact]
    public async Task An_acknowledged_commit_is_fsynced_when_FlushOnAcksAll_is_on()
    {
        string topic = CreateTopic(BrokerFixture.UniqueTopic("durable"), 1);
        string group = "durable-" + Guid.NewGuid().ToString("N");
        OffsetLog log = broker.Service<OffsetLog>();
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        long before = log.LogEndOffset;
        Assert.Equal(0, (await CommitAsync(connection, group, "", -1, topic, 0, 5, version: 8)).Topics.Single().Partitions.Single().ErrorCode);
        Assert.True(log.RecoveryPoint > before, $"recovery point {log.RecoveryPoint} should be past {before}: the commit was answered before its fsync");
    }

    private static Task<OffsetCommitResponse> CommitAsync(RawConnection connection, string group, string member, int generation, string topic, int partition, long offset, short version) =>
        connection.RequestAsync<OffsetCommitResponse>(ApiKey.OffsetCommit, version, new OffsetCommitRequest
        {
            GroupId = group,
            MemberId = member,
            GenerationIdOrMemberEpoch = generation,
            Topics = [new OffsetCommitRequest.OffsetCommitRequestTopic
            {
                Name = topic,
                Partitions = [new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = partition, CommittedOffset = offset }],
            }],
        }, Patience);

    /// <summary>A request frame with a chosen client id (RawConnection always sends "raw-test").</summary>
    private static byte[] Frame(ApiKey key, short version, int correlation, string clientId, IKafkaMessage request) =>
        RequestFrames.Encode(key, version, correlation, request, clientId);

    private static T Decode<T>(byte[] response, ApiKey key, short version)
        where T : IKafkaMessage, new()
    {
        var reader = new KafkaReader(response);
        reader.ReadInt32();
        if (ApiMessages.ResponseHeaderHasTaggedFields(key, version))
        {
            reader.SkipTaggedFields();
        }

        var result = new T();
        result.Read(ref reader, version);
        Assert.False(reader.Failed, $"{key} v{version} response did not decode");
        return result;
    }
}
