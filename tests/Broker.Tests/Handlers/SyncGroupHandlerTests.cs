using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>SyncGroup (key 14) over an in-memory connection.</summary>
public sealed class SyncGroupHandlerTests : HandlerTest
{
    [Fact]
    public async Task The_leader_gets_the_assignment_it_gave_and_an_unknown_member_gets_UNKNOWN_MEMBER_ID()
    {
        JoinGroupResponse joined = await JoinAsync("sg");
        var sync = new SyncGroupRequest
        {
            GroupId = "sg",
            GenerationId = joined.GenerationId,
            MemberId = joined.MemberId,
            Assignments = [new SyncGroupRequest.SyncGroupRequestAssignment { MemberId = joined.MemberId, Assignment = new byte[] { 1, 2, 3 } }],
        };
        SyncGroupResponse synced = await Client.SendAsync<SyncGroupResponse>(ApiKey.SyncGroup, 3, sync, cancellationToken: Token);
        Assert.Equal(0, synced.ErrorCode);
        Assert.Equal(new byte[] { 1, 2, 3 }, synced.Assignment.ToArray());

        sync.MemberId = "stranger";
        SyncGroupResponse refused = await Client.SendAsync<SyncGroupResponse>(ApiKey.SyncGroup, 3, sync, cancellationToken: Token);
        Assert.Equal((short)ErrorCode.UnknownMemberId, refused.ErrorCode);
    }
    [Fact]
    public async Task V5_refuses_a_protocol_type_or_name_that_is_not_the_groups_and_answers_both()
    {
        JoinGroupResponse joined = await JoinAsync("sg5");
        SyncGroupRequest Sync(string? type, string? name) => new()
        {
            GroupId = "sg5",
            GenerationId = joined.GenerationId,
            MemberId = joined.MemberId,
            ProtocolType = type,
            ProtocolName = name,
            Assignments = [new SyncGroupRequest.SyncGroupRequestAssignment { MemberId = joined.MemberId, Assignment = new byte[] { 4 } }],
        };

        SyncGroupResponse wrongName = await Client.SendAsync<SyncGroupResponse>(ApiKey.SyncGroup, 5, Sync("consumer", "roundrobin"), cancellationToken: Token);
        Assert.Equal((short)ErrorCode.InconsistentGroupProtocol, wrongName.ErrorCode);
        SyncGroupResponse wrongType = await Client.SendAsync<SyncGroupResponse>(ApiKey.SyncGroup, 5, Sync("connect", "range"), cancellationToken: Token);
        Assert.Equal((short)ErrorCode.InconsistentGroupProtocol, wrongType.ErrorCode);

        SyncGroupResponse synced = await Client.SendAsync<SyncGroupResponse>(ApiKey.SyncGroup, 5, Sync("consumer", "range"), cancellationToken: Token);
        Assert.Equal(0, synced.ErrorCode);
        Assert.Equal("consumer", synced.ProtocolType);
        Assert.Equal("range", synced.ProtocolName);
        Assert.Equal(new byte[] { 4 }, synced.Assignment.ToArray());
    }
}
