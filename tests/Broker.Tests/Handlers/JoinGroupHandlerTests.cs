using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>JoinGroup (key 11) over an in-memory connection.</summary>
public sealed class JoinGroupHandlerTests : HandlerTest
{
    [Fact]
    public async Task A_new_member_is_asked_for_its_id_then_leads_generation_1_with_its_metadata()
    {
        JoinGroupResponse joined = await JoinAsync("jg");

        Assert.Equal(0, joined.ErrorCode);
        Assert.Equal(1, joined.GenerationId);
        Assert.Equal(joined.MemberId, joined.Leader);
        Assert.Equal("range", joined.ProtocolName);
        JoinGroupResponse.JoinGroupResponseMember member = Assert.Single(joined.Members);
        Assert.Equal(new byte[] { 0, 1 }, member.Metadata.ToArray());
    }

    [Fact]
    public async Task A_session_timeout_outside_the_brokers_bounds_gets_INVALID_SESSION_TIMEOUT()
    {
        JoinGroupResponse response = await Client.SendAsync<JoinGroupResponse>(ApiKey.JoinGroup, 5, new JoinGroupRequest
        {
            GroupId = "jg",
            SessionTimeoutMs = 1,
            RebalanceTimeoutMs = 10_000,
            MemberId = "",
            ProtocolType = "consumer",
            Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = new byte[] { 0 } }],
        }, cancellationToken: Token);

        Assert.Equal((short)ErrorCode.InvalidSessionTimeout, response.ErrorCode);
    }
}
