using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using Microsoft.Extensions.DependencyInjection;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>
/// With ACLs on, DescribeClientQuotas needs DescribeConfigs on the cluster and AlterClientQuotas needs
/// AlterConfigs on the cluster (Kafka's table); the embedded connection is the anonymous principal.
/// </summary>
public sealed class ClientQuotasAclTests : HandlerTest
{
    private const short ClusterAuthorizationFailed = (short)Protocol.ErrorCode.ClusterAuthorizationFailed;

    protected override IEnumerable<KeyValuePair<string, string?>> Settings =>
    [
        new("Security:AuthorizationEnabled", "true"),
        new("Security:AllowEveryoneIfNoAclFound", "false"),
    ];

    private Task<DescribeClientQuotasResponse> DescribeAsync() =>
        Client.SendAsync<DescribeClientQuotasResponse>(ApiKey.DescribeClientQuotas, 1, new DescribeClientQuotasRequest(), cancellationToken: Token);

    private Task<AlterClientQuotasResponse> AlterAsync() =>
        Client.SendAsync<AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, 1, new AlterClientQuotasRequest
        {
            Entries =
            [
                new AlterClientQuotasRequest.EntryData
                {
                    Entity = [new AlterClientQuotasRequest.EntityData { EntityType = "client-id", EntityName = "c" }],
                    Ops = [new AlterClientQuotasRequest.OpData { Key = "producer_byte_rate", Value = 1000 }],
                },
            ],
        }, cancellationToken: Token);

    private void Allow(AclOperation operation) =>
        Assert.True(Broker.Services.GetRequiredService<AclStore>().Add(
            [new AclBinding(AclResourceType.Cluster, Authorizer.ClusterName, AclPatternType.Literal, "User:ANONYMOUS", "*", operation, AclPermissionType.Allow)]));

    [Fact]
    public async Task Describe_needs_DescribeConfigs_and_alter_needs_AlterConfigs_on_the_cluster()
    {
        Assert.Equal(ClusterAuthorizationFailed, (await DescribeAsync()).ErrorCode);
        Assert.Equal(ClusterAuthorizationFailed, Assert.Single((await AlterAsync()).Entries).ErrorCode);

        // DescribeConfigs lets the principal describe, not alter (Describe alone, or Alter alone, would not do).
        Allow(AclOperation.Describe);
        Allow(AclOperation.Alter);
        Assert.Equal(ClusterAuthorizationFailed, (await DescribeAsync()).ErrorCode);
        Allow(AclOperation.DescribeConfigs);
        DescribeClientQuotasResponse described = await DescribeAsync();
        Assert.Equal(0, described.ErrorCode);
        Assert.Empty(described.Entries!);
        Assert.Equal(ClusterAuthorizationFailed, Assert.Single((await AlterAsync()).Entries).ErrorCode);
        Assert.Empty((await DescribeAsync()).Entries!); // nothing was applied

        Allow(AclOperation.AlterConfigs);
        Assert.Equal(0, Assert.Single((await AlterAsync()).Entries).ErrorCode);
        Assert.Single((await DescribeAsync()).Entries!);
    }
}
