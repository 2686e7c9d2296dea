using System.Security.Cryptography;
using System.Text;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Integration.Tests.Cluster;

/// <summary>
/// ACLs, SCRAM users and client quotas are the cluster's, not one broker's (real processes, real etcd): what one broker
/// is told, every broker answers and enforces; changes sent to three brokers at once are all kept; and a broker that was
/// down when a change was made has it when it comes back.
/// </summary>
[Collection(ClusterProcesses.Name)]
public sealed class ClusterSecurityTests
{
    [Fact]
    public async Task Acls_users_and_quotas_set_at_one_broker_are_answered_by_every_broker_and_reach_one_that_was_down()
    {
        await using var cluster = await ThreeBrokerCluster.StartAsync();

        // A SCRAM user created at broker 1 is known to brokers 2 and 3.
        using (var connection = await RawConnection.OpenAsync(cluster.Brokers[1].Port))
        {
            var altered = await connection.RequestAsync<AlterUserScramCredentialsResponse>(ApiKey.AlterUserScramCredentials, 0, new AlterUserScramCredentialsRequest
            {
                Upsertions = [Upsertion("alice", "wonderland", 8192)],
            }, TimeSpan.FromSeconds(10));
            Assert.Equal(0, Assert.Single(altered.Results).ErrorCode);
        }

        foreach (int id in new[] { 2, 3 })
        {
            Assert.Equal(["alice:8192"], await ThreeBrokerCluster.WaitForAsync(() => UsersAsync(cluster.Brokers[id].Port), u => u.Count == 1));
        }

        // ACLs created at all three brokers at once: every one is kept, and every broker lists them all.
        await Task.WhenAll(Enumerable.Range(1, 3).Select(id => CreateAclAsync(cluster.Brokers[id].Port, $"topic-{id}", "User:alice")));
        foreach (int id in new[] { 1, 2, 3 })
        {
            Assert.Equal(["topic-1", "topic-2", "topic-3"], await ThreeBrokerCluster.WaitForAsync(() => AclTopicsAsync(cluster.Brokers[id].Port), t => t.Count == 3));
        }

        // A quota set at broker 3 is answered by broker 1.
        await Quotas.QuotaSetup.SetClientQuotaAsync(cluster.Brokers[3].Port, "slow-client", "producer_byte_rate", 1024);
        Assert.Equal(1024, await ThreeBrokerCluster.WaitForAsync(() => QuotaAsync(cluster.Brokers[1].Port, "slow-client"), q => q is not null));

        // Broker 3 down: an ACL deleted and another created meanwhile; when it returns, it has the cluster's ACLs.
        await cluster.Brokers[3].KillAsync();
        using (var connection = await RawConnection.OpenAsync(cluster.Brokers[1].Port))
        {
            var deleted = await connection.RequestAsync<DeleteAclsResponse>(ApiKey.DeleteAcls, 3, new DeleteAclsRequest
            {
                Filters = [new DeleteAclsRequest.DeleteAclsFilter
                {
                    ResourceTypeFilter = (sbyte)AclResourceType.Topic, ResourceNameFilter = "topic-2", PatternTypeFilter = (sbyte)AclPatternType.Literal,
                    PrincipalFilter = null, HostFilter = null, Operation = (sbyte)AclOperation.Any, PermissionType = (sbyte)AclPermissionType.Any,
                }],
            }, TimeSpan.FromSeconds(10));
            Assert.Single(Assert.Single(deleted.FilterResults).MatchingAcls);
        }

        await CreateAclAsync(cluster.Brokers[2].Port, "topic-4", "User:alice");
        await cluster.Brokers[3].DisposeAsync();
        cluster.Brokers[3] = await cluster.StartBrokerAsync(3, cluster.Brokers[3].Port);
        Assert.Equal(["topic-1", "topic-3", "topic-4"], await ThreeBrokerCluster.WaitForAsync(
            () => AclTopicsAsync(cluster.Brokers[3].Port), t => t.SequenceEqual(["topic-1", "topic-3", "topic-4"])));
        Assert.Equal(["alice:8192"], await UsersAsync(cluster.Brokers[3].Port));
        Assert.Equal(1024, await QuotaAsync(cluster.Brokers[3].Port, "slow-client"));
    }

    private static AlterUserScramCredentialsRequest.ScramCredentialUpsertion Upsertion(string user, string password, int iterations)
    {
        byte[] salt = RandomNumberGenerator.GetBytes(16);
        return new AlterUserScramCredentialsRequest.ScramCredentialUpsertion
        {
            Name = user,
            Mechanism = 1,
            Iterations = iterations,
            Salt = salt, // SCRAM-SHA-256
            SaltedPassword = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32),
        };
    }

    private static async Task<List<string>> UsersAsync(int port)
    {
        using var connection = await RawConnection.OpenAsync(port);
        var described = await connection.RequestAsync<DescribeUserScramCredentialsResponse>(
            ApiKey.DescribeUserScramCredentials, 0, new DescribeUserScramCredentialsRequest { Users = null }, TimeSpan.FromSeconds(10));
        return [.. described.Results.SelectMany(r => r.CredentialInfos.Select(c => $"{r.User}:{c.Iterations}")).Order(StringComparer.Ordinal)];
    }

    private static async Task CreateAclAsync(int port, string topic, string principal)
    {
        using var connection = await RawConnection.OpenAsync(port);
        var created = await connection.RequestAsync<CreateAclsResponse>(ApiKey.CreateAcls, 3, new CreateAclsRequest
        {
            Creations = [new CreateAclsRequest.AclCreation
            {
                ResourceType = (sbyte)AclResourceType.Topic, ResourceName = topic, ResourcePatternType = (sbyte)AclPatternType.Literal,
                Principal = principal, Host = "*", Operation = (sbyte)AclOperation.Read, PermissionType = (sbyte)AclPermissionType.Allow,
            }],
        }, TimeSpan.FromSeconds(10));
        Assert.Equal(0, Assert.Single(created.Results).ErrorCode);
    }

    private static async Task<List<string>> AclTopicsAsync(int port)
    {
        using var connection = await RawConnection.OpenAsync(port);
        var described = await connection.RequestAsync<DescribeAclsResponse>(ApiKey.DescribeAcls, 3, new DescribeAclsRequest
        {
            ResourceTypeFilter = (sbyte)AclResourceType.Any,
            ResourceNameFilter = null,
            PatternTypeFilter = (sbyte)AclPatternType.Any,
            PrincipalFilter = null,
            HostFilter = null,
            Operation = (sbyte)AclOperation.Any,
            PermissionType = (sbyte)AclPermissionType.Any,
        }, TimeSpan.FromSeconds(10));
        return [.. described.Resources.Select(r => r.ResourceName).Order(StringComparer.Ordinal)];
    }

    private static async Task<double?> QuotaAsync(int port, string clientId)
    {
        using var connection = await RawConnection.OpenAsync(port);
        var described = await connection.RequestAsync<DescribeClientQuotasResponse>(ApiKey.DescribeClientQuotas, 1, new DescribeClientQuotasRequest
        {
            Components = [new DescribeClientQuotasRequest.ComponentData { EntityType = "client-id", MatchType = 0, Match = clientId }],
        }, TimeSpan.FromSeconds(10));
        return described.Entries?.SelectMany(e => e.Values).FirstOrDefault(v => v.Key == "producer_byte_rate")?.Value;
    }
}
