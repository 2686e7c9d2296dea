using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>OffsetDelete (key 47) over an in-memory connection.</summary>
public sealed class OffsetDeleteHandlerTests : HandlerTest
{
    protected override IReadOnlyList<(string Name, int Partitions)> Topics => [("t", 2)];

    private Task<OffsetDeleteResponse> DeleteAsync(string group, string topic, int partition) =>
        Client.SendAsync<OffsetDeleteResponse>(ApiKey.OffsetDelete, 0, new OffsetDeleteRequest
        {
            GroupId = group,
            Topics = [new OffsetDeleteRequest.OffsetDeleteRequestTopic { Name = topic, Partitions = [partition] }],
        }, cancellationToken: Token);

    [Fact]
    public async Task A_committed_offset_of_an_empty_group_goes_and_an_unknown_group_gets_GROUP_ID_NOT_FOUND()
    {
        await CommitAsync("od", "t", 9);

        OffsetDeleteResponse deleted = await DeleteAsync("od", "t", 0);
        OffsetDeleteResponse unknown = await DeleteAsync("never", "t", 0);

        Assert.Equal(0, deleted.ErrorCode);
        Assert.Equal(-1, (await OffsetFetchHandlerTests.CommittedAsync(Client, "od", "t", 0, Token)).Offset);
        Assert.Equal((short)ErrorCode.GroupIdNotFound, unknown.ErrorCode);
    }
}
