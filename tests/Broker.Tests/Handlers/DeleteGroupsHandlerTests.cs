using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>DeleteGroups (key 42) over an in-memory connection.</summary>
public sealed class DeleteGroupsHandlerTests : HandlerTest
{
    protected override IReadOnlyList<(string Name, int Partitions)> Topics => [("t", 2)];

    [Fact]
    public async Task An_empty_group_goes_with_its_offsets_and_a_group_with_members_gets_NON_EMPTY_GROUP()
    {
        await CommitAsync("empty", "t", 3);
        await StableGroupAsync("busy");

        DeleteGroupsResponse response = await Client.SendAsync<DeleteGroupsResponse>(ApiKey.DeleteGroups, 2, new DeleteGroupsRequest { GroupsNames = ["empty", "busy", "never"] }, cancellationToken: Token);

        Assert.Equal([("empty", (short)0), ("busy", (short)ErrorCode.NonEmptyGroup), ("never", (short)ErrorCode.GroupIdNotFound)],
            response.Results.Select(r => (r.GroupId, r.ErrorCode)));
        Assert.Equal(-1, (await OffsetFetchHandlerTests.CommittedAsync(Client, "empty", "t", 0, Token)).Offset);
    }
}
