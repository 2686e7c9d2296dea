using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>
/// CreateAcls (30) and DeleteAcls (31) share one entry rule (<see cref="AclRequestEntry"/>): a request of more
/// than <see cref="AclRequestEntry.MaxPerRequest"/> entries is refused entry by entry with INVALID_REQUEST and
/// touches nothing, one at the bound is applied.
/// </summary>
public sealed class AclRequestBoundTests : HandlerTest
{
    private static CreateAclsRequest.AclCreation Creation(int i) => new()
    {
        ResourceType = (sbyte)AclResourceType.Topic,
        ResourceName = "t" + i,
        ResourcePatternType = (sbyte)AclPatternType.Literal,
        Principal = "User:alice",
        Host = "*",
        Operation = (sbyte)AclOperation.Read,
        PermissionType = (sbyte)AclPermissionType.Allow,
    };

    private static DeleteAclsRequest.DeleteAclsFilter Filter(int i) => new()
    {
        ResourceTypeFilter = (sbyte)AclResourceType.Topic,
        ResourceNameFilter = "t" + i,
        PatternTypeFilter = (sbyte)AclPatternType.Literal,
        PrincipalFilter = null,
        HostFilter = null,
        Operation = (sbyte)AclOperation.Any,
        PermissionType = (sbyte)AclPermissionType.Any,
    };

    private Task<CreateAclsResponse> CreateAsync(int count) =>
        Client.SendAsync<CreateAclsResponse>(ApiKey.CreateAcls, 3, new CreateAclsRequest { Creations = [.. Enumerable.Range(0, count).Select(Creation)] }, cancellationToken: Token);

    private Task<DeleteAclsResponse> DeleteAsync(int count) =>
        Client.SendAsync<DeleteAclsResponse>(ApiKey.DeleteAcls, 3, new DeleteAclsRequest { Filters = [.. Enumerable.Range(0, count).Select(Filter)] }, cancellationToken: Token);

    [Fact]
    public async Task Over_the_bound_every_entry_is_refused_and_nothing_changes()
    {
        CreateAclsResponse tooMany = await CreateAsync(AclRequestEntry.MaxPerRequest + 1);
        Assert.Equal(AclRequestEntry.MaxPerRequest + 1, tooMany.Results.Count);
        Assert.All(tooMany.Results, r => Assert.Equal((short)ErrorCode.InvalidRequest, r.ErrorCode));

        CreateAclsResponse atBound = await CreateAsync(AclRequestEntry.MaxPerRequest);
        Assert.All(atBound.Results, r => Assert.Equal(0, r.ErrorCode));

        DeleteAclsResponse deleteTooMany = await DeleteAsync(AclRequestEntry.MaxPerRequest + 1);
        Assert.All(deleteTooMany.FilterResults, r => Assert.Equal((short)ErrorCode.InvalidRequest, r.ErrorCode));
        Assert.All(deleteTooMany.FilterResults, r => Assert.Empty(r.MatchingAcls));

        DeleteAclsResponse deleteAtBound = await DeleteAsync(AclRequestEntry.MaxPerRequest);
        Assert.All(deleteAtBound.FilterResults, r => Assert.Equal(0, r.ErrorCode));
        Assert.Equal(AclRequestEntry.MaxPerRequest, deleteAtBound.FilterResults.Sum(r => r.MatchingAcls.Count));
    }
}
