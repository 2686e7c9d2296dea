using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using E = LogBroker.Protocol.ErrorCode;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>The group APIs under ACLs, each with Kafka's operation and error code (KafkaApis).</summary>
public sealed class GroupAclTests : AclHandlerTest
{
    private static JoinGroupRequest Join(string group) => new()
    {
        GroupId = group,
        SessionTimeoutMs = 10_000,
        RebalanceTimeoutMs = 10_000,
        MemberId = "",
        ProtocolType = "consumer",
        Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = new byte[] { 0, 1 } }],
    };

    [Fact]
    public async Task Join_sync_heartbeat_and_leave_need_Read_on_the_group()
    {
        Allow(AclOperation.Describe, AclResourceType.Group, "g"); // Describe does not imply Read
        Assert.Equal(Code(E.GroupAuthorizationFailed), (await SendAsync<JoinGroupResponse>(ApiKey.JoinGroup, 5, Join("g"))).ErrorCode);
        Assert.Equal(Code(E.GroupAuthorizationFailed), (await SendAsync<SyncGroupResponse>(ApiKey.SyncGroup, 3, new SyncGroupRequest { GroupId = "g", MemberId = "m" })).ErrorCode);
        Assert.Equal(Code(E.GroupAuthorizationFailed), (await SendAsync<HeartbeatResponse>(ApiKey.Heartbeat, 3, new HeartbeatRequest { GroupId = "g", MemberId = "m" })).ErrorCode);
        Assert.Equal(Code(E.GroupAuthorizationFailed), (await SendAsync<LeaveGroupResponse>(ApiKey.LeaveGroup, 3,
            new LeaveGroupRequest { GroupId = "g", Members = [new LeaveGroupRequest.MemberIdentity { MemberId = "m" }] })).ErrorCode);
        Assert.Equal(Code(E.GroupAuthorizationFailed), (await SendAsync<LeaveGroupResponse>(ApiKey.LeaveGroup, 1, new LeaveGroupRequest { GroupId = "g", MemberId = "m" })).ErrorCode);

        Allow(AclOperation.Read, AclResourceType.Group, "g");
        (string member, int generation) = await StableGroupAsync("g");
        Assert.Equal(0, (await SendAsync<HeartbeatResponse>(ApiKey.Heartbeat, 3, new HeartbeatRequest { GroupId = "g", MemberId = member, GenerationId = generation })).ErrorCode);
        LeaveGroupResponse left = await SendAsync<LeaveGroupResponse>(ApiKey.LeaveGroup, 3,
            new LeaveGroupRequest { GroupId = "g", Members = [new LeaveGroupRequest.MemberIdentity { MemberId = member }] });
        Assert.Equal(0, left.ErrorCode);
        Assert.Equal(0, Assert.Single(left.Members).ErrorCode);
    }

    [Fact]
    public async Task OffsetCommit_needs_Read_on_the_group_and_on_each_topic()
    {
        MakeTopic("open");
        MakeTopic("closed");
        Allow(AclOperation.Read, AclResourceType.Topic, "open");
        Assert.Equal([Code(E.GroupAuthorizationFailed)], await CommitAsync("g", "open", 5));

        Allow(AclOperation.Read, AclResourceType.Group, "g");
        Assert.Equal([Code(E.None)], await CommitAsync("g", "open", 5));
        Assert.Equal([Code(E.TopicAuthorizationFailed)], await CommitAsync("g", "closed", 5));
        Allow(AclOperation.Describe, AclResourceType.Group, "g");
        Allow(AclOperation.Describe, AclResourceType.Topic, "closed");
        OffsetFetchResponse fetched = await FetchOffsetsAsync(8, "g", null);
        Assert.Equal(["open"], Assert.Single(fetched.Groups).Topics.Select(t => t.Name)); // nothing was stored for "closed"
    }

    private Task<OffsetFetchResponse> FetchOffsetsAsync(short version, string group, string[]? topics) => version >= 8
        ? SendAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, version, new OffsetFetchRequest
        {
            Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = topics?.Select(t => new OffsetFetchRequest.OffsetFetchRequestTopics { Name = t, PartitionIndexes = [0] }).ToList() }],
        })
        : SendAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, version, new OffsetFetchRequest
        {
            GroupId = group,
            Topics = topics?.Select(t => new OffsetFetchRequest.OffsetFetchRequestTopic { Name = t, PartitionIndexes = [0] }).ToList(),
        });

    [Fact]
    public async Task OffsetFetch_needs_Describe_on_the_group_and_hides_or_refuses_topics_without_Describe()
    {
        MakeTopic("seen");
        MakeTopic("unseen");
        Allow(AclOperation.Read, AclResourceType.Group, "g");
        Allow(AclOperation.Read, AclResourceType.Topic, "seen");
        Allow(AclOperation.Read, AclResourceType.Topic, "unseen");
        Assert.Equal([Code(E.None)], await CommitAsync("g", "seen", 3));
        Assert.Equal([Code(E.None)], await CommitAsync("g", "unseen", 4));
        Deny(AclOperation.Describe, AclResourceType.Topic, "unseen");
        Deny(AclOperation.Describe, AclResourceType.Group, "g");

        Assert.Equal(Code(E.GroupAuthorizationFailed), Assert.Single((await FetchOffsetsAsync(8, "g", null)).Groups).ErrorCode);
        Assert.Equal(Code(E.GroupAuthorizationFailed), (await FetchOffsetsAsync(7, "g", null)).ErrorCode);
        OffsetFetchResponse v1 = await FetchOffsetsAsync(1, "g", ["seen"]);
        Assert.Equal(Code(E.GroupAuthorizationFailed), Assert.Single(Assert.Single(v1.Topics).Partitions).ErrorCode);

        Acls.Remove([new AclFilter(AclResourceType.Group, "g", AclPatternType.Literal, Me, "*", AclOperation.Describe, AclPermissionType.Deny)]);
        OffsetFetchResponse.OffsetFetchResponseGroup all = Assert.Single((await FetchOffsetsAsync(8, "g", null)).Groups);
        Assert.Equal(0, all.ErrorCode);
        Assert.Equal(["seen"], all.Topics.Select(t => t.Name)); // hidden, not refused, when every offset is asked for
        OffsetFetchResponse.OffsetFetchResponseGroup named = Assert.Single((await FetchOffsetsAsync(8, "g", ["seen", "unseen"])).Groups);
        Assert.Equal([("seen", 3L, Code(E.None)), ("unseen", -1L, Code(E.TopicAuthorizationFailed))],
            named.Topics.Select(t => (t.Name, t.Partitions[0].CommittedOffset, t.Partitions[0].ErrorCode)));
        OffsetFetchResponse old = await FetchOffsetsAsync(7, "g", ["unseen"]);
        Assert.Equal((-1L, Code(E.TopicAuthorizationFailed)), (old.Topics[0].Partitions[0].CommittedOffset, old.Topics[0].Partitions[0].ErrorCode));
    }

    [Fact]
    public async Task DescribeGroups_ListGroups_and_DeleteGroups_as_Kafka()
    {
        MakeTopic("t");
        Allow(AclOperation.Read, AclResourceType.Group, "mine", AclPatternType.Prefixed);
        Allow(AclOperation.Read, AclResourceType.Topic, "t");
        Allow(AclOperation.Read, AclResourceType.Group, "other");
        Assert.Equal([Code(E.None)], await CommitAsync("mine-1", "t", 1));
        Assert.Equal([Code(E.None)], await CommitAsync("other", "t", 1));
        Deny(AclOperation.Describe, AclResourceType.Group, "other");

        DescribeGroupsResponse described = await SendAsync<DescribeGroupsResponse>(ApiKey.DescribeGroups, 5, new DescribeGroupsRequest { Groups = ["mine-1", "other"] });
        Assert.Equal([("mine-1", Code(E.None)), ("other", Code(E.GroupAuthorizationFailed))], described.Groups.Select(g => (g.GroupId, g.ErrorCode)));

        ListGroupsResponse listed = await SendAsync<ListGroupsResponse>(ApiKey.ListGroups, 4, new ListGroupsRequest());
        Assert.Equal(["mine-1"], listed.Groups.Select(g => g.GroupId)); // only the groups it may describe
        AllowCluster(AclOperation.Describe);
        listed = await SendAsync<ListGroupsResponse>(ApiKey.ListGroups, 4, new ListGroupsRequest());
        Assert.Equal(["mine-1", "other"], listed.Groups.Select(g => g.GroupId).Order(StringComparer.Ordinal)); // Describe on the cluster: all

        DeleteGroupsResponse deleted = await SendAsync<DeleteGroupsResponse>(ApiKey.DeleteGroups, 2, new DeleteGroupsRequest { GroupsNames = ["mine-1"] });
        Assert.Equal(Code(E.GroupAuthorizationFailed), Assert.Single(deleted.Results).ErrorCode);
        Allow(AclOperation.Delete, AclResourceType.Group, "mine-1");
        deleted = await SendAsync<DeleteGroupsResponse>(ApiKey.DeleteGroups, 2, new DeleteGroupsRequest { GroupsNames = ["mine-1"] });
        Assert.Equal(0, Assert.Single(deleted.Results).ErrorCode);
    }

    [Fact]
    public async Task OffsetDelete_needs_Delete_on_the_group_and_Read_on_each_topic()
    {
        MakeTopic("a");
        MakeTopic("b");
        Allow(AclOperation.Read, AclResourceType.Group, "g");
        Allow(AclOperation.Read, AclResourceType.Topic, "a");
        Allow(AclOperation.Read, AclResourceType.Topic, "b");
        Assert.Equal([Code(E.None)], await CommitAsync("g", "a", 1));
        Assert.Equal([Code(E.None)], await CommitAsync("g", "b", 1));
        var request = new OffsetDeleteRequest
        {
            GroupId = "g",
            Topics = [new OffsetDeleteRequest.OffsetDeleteRequestTopic { Name = "a", Partitions = [0] }, new OffsetDeleteRequest.OffsetDeleteRequestTopic { Name = "b", Partitions = [0] }],
        };
        Assert.Equal(Code(E.GroupAuthorizationFailed), (await SendAsync<OffsetDeleteResponse>(ApiKey.OffsetDelete, 0, request)).ErrorCode);

        Allow(AclOperation.Delete, AclResourceType.Group, "g");
        Deny(AclOperation.Read, AclResourceType.Topic, "b");
        OffsetDeleteResponse response = await SendAsync<OffsetDeleteResponse>(ApiKey.OffsetDelete, 0, request);
        Assert.Equal(0, response.ErrorCode);
        Assert.Equal([("a", Code(E.None)), ("b", Code(E.TopicAuthorizationFailed))], response.Topics.Select(t => (t.Name, t.Partitions[0].ErrorCode)));
        Allow(AclOperation.Describe, AclResourceType.Group, "g");
        Allow(AclOperation.Describe, AclResourceType.Topic, "b");
        OffsetFetchResponse.OffsetFetchResponseGroup left = Assert.Single((await FetchOffsetsAsync(8, "g", ["a", "b"])).Groups);
        Assert.Equal([-1L, 1L], left.Topics.Select(t => t.Partitions[0].CommittedOffset)); // "a" deleted, "b" kept
    }

    [Fact]
    public async Task FindCoordinator_needs_Describe_on_the_group_or_transactional_id()
    {
        Allow(AclOperation.Describe, AclResourceType.Group, "seen");
        FindCoordinatorResponse v3 = await SendAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 3, new FindCoordinatorRequest { Key = "unseen", KeyType = 0 });
        Assert.Equal((Code(E.GroupAuthorizationFailed), -1), (v3.ErrorCode, v3.NodeId));
        Assert.Equal(0, (await SendAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 3, new FindCoordinatorRequest { Key = "seen", KeyType = 0 })).ErrorCode);

        FindCoordinatorResponse v4 = await SendAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 4, new FindCoordinatorRequest { KeyType = 0, CoordinatorKeys = ["seen", "unseen"] });
        Assert.Equal([Code(E.None), Code(E.GroupAuthorizationFailed)], v4.Coordinators.Select(c => c.ErrorCode));
        Assert.Equal(-1, v4.Coordinators[1].NodeId);
        FindCoordinatorResponse txn = await SendAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 4, new FindCoordinatorRequest { KeyType = 1, CoordinatorKeys = ["seen"] });
        Assert.Equal(Code(E.TransactionalIdAuthorizationFailed), Assert.Single(txn.Coordinators).ErrorCode);
    }

    [Fact]
    public async Task ConsumerGroupHeartbeat_needs_Read_and_ConsumerGroupDescribe_Describe_on_the_group()
    {
        MakeTopic("t");
        var heartbeat = new ConsumerGroupHeartbeatRequest { GroupId = "cg", MemberId = Guid.NewGuid().ToString("N"), MemberEpoch = 0, RebalanceTimeoutMs = 10_000, SubscribedTopicNames = ["t"], TopicPartitions = [] };
        Assert.Equal(Code(E.GroupAuthorizationFailed), (await SendAsync<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 0, heartbeat)).ErrorCode);
        Allow(AclOperation.Read, AclResourceType.Group, "cg");
        Assert.Equal(0, (await SendAsync<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 0, heartbeat)).ErrorCode);

        var describe = new ConsumerGroupDescribeRequest { GroupIds = ["cg", "nope"] };
        Deny(AclOperation.Describe, AclResourceType.Group, "nope");
        ConsumerGroupDescribeResponse described = await SendAsync<ConsumerGroupDescribeResponse>(ApiKey.ConsumerGroupDescribe, 0, describe);
        Assert.Equal([Code(E.None), Code(E.GroupAuthorizationFailed)], described.Groups.Select(g => g.ErrorCode)); // Read on "cg" implies Describe
    }
}
