using LogBroker.Broker.Cluster;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Broker.Tests.Handlers;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using LogBroker.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>
/// In cluster mode CreateTopics, CreatePartitions and DeleteTopics are decided by the controller
/// (<see cref="ClusterTopicAdmin"/>), not by the single-node handlers; the ACL checks must hold there too.
/// One embedded broker (the anonymous principal, no ACL found = denied) against a real one-member etcd, so it
/// is the controller.
/// </summary>
public sealed class ClusterAdminAclTests : IAsyncLifetime
{
    private const string Me = "User:ANONYMOUS";
    private readonly TempDirectory _dir = new("cluster-acl");
    private EtcdCluster? _etcd;
    private EmbeddedBroker? _broker;
    private EmbeddedClient? _client;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private EmbeddedClient Client => _client!;

    public async ValueTask InitializeAsync()
    {
        _etcd = await EtcdCluster.StartAsync(1);
        _broker = await EmbeddedBroker.StartAsync(_dir.Path,
        [
            new("Cluster:Etcd:Endpoints:0", _etcd.Endpoints[0]),
            new("Cluster:LeaseTtl", "00:00:05"),
            new("Security:AuthorizationEnabled", "true"),
            new("Security:AllowEveryoneIfNoAclFound", "false"),
        ]);
        _client = _broker.Connect();
        var cluster = _broker.Services.GetRequiredService<ClusterService>();
        for (int i = 0; i < 600 && cluster.Controller is null; i++)
        {
            await Task.Delay(50, Token);
        }

        Assert.NotNull(cluster.Controller);
    }

    public async ValueTask DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        if (_etcd is not null)
        {
            await _etcd.DisposeAsync();
        }

        _dir.Dispose();
    }

    private void Allow(AclOperation operation, string topic) =>
        Assert.True(_broker!.Services.GetRequiredService<AclStore>().Add([new AclBinding(AclResourceType.Topic, topic, AclPatternType.Literal, Me, "*", operation, AclPermissionType.Allow)]));

    private async Task<short> CreateAsync(string topic)
    {
        var request = new CreateTopicsRequest { Topics = [new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }] };
        return Assert.Single((await Client.SendAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 5, request, cancellationToken: Token)).Topics).ErrorCode;
    }

    private async Task<short> GrowAsync(string topic)
    {
        var request = new CreatePartitionsRequest { Topics = [new CreatePartitionsRequest.CreatePartitionsTopic { Name = topic, Count = 2, Assignments = null }], TimeoutMs = 5000 };
        return Assert.Single((await Client.SendAsync<CreatePartitionsResponse>(ApiKey.CreatePartitions, 3, request, cancellationToken: Token)).Results).ErrorCode;
    }

    private async Task<short> DeleteAsync(string topic)
    {
        var request = new DeleteTopicsRequest { TopicNames = [topic], TimeoutMs = 5000 };
        return Assert.Single((await Client.SendAsync<DeleteTopicsResponse>(ApiKey.DeleteTopics, 5, request, cancellationToken: Token)).Responses).ErrorCode;
    }

    [Fact]
    public async Task The_controller_checks_Create_Alter_Describe_and_Delete_on_the_topic()
    {
        Assert.Equal((short)ErrorCode.TopicAuthorizationFailed, await CreateAsync("guarded"));
        Allow(AclOperation.Create, "guarded");
        Assert.Equal((short)ErrorCode.None, await CreateAsync("guarded"));

        Assert.Equal((short)ErrorCode.TopicAuthorizationFailed, await GrowAsync("guarded"));
        Allow(AclOperation.Alter, "guarded");
        Assert.Equal((short)ErrorCode.None, await GrowAsync("guarded"));

        Assert.Equal((short)ErrorCode.TopicAuthorizationFailed, await DeleteAsync("guarded")); // not even Describe
        Assert.Equal((short)ErrorCode.TopicAuthorizationFailed, await DeleteAsync("never-there")); // hidden whether it exists or not
        Allow(AclOperation.Describe, "guarded");
        Assert.Equal((short)ErrorCode.TopicAuthorizationFailed, await DeleteAsync("guarded")); // Describe, but no Delete
        Allow(AclOperation.Delete, "guarded");
        Assert.Equal((short)ErrorCode.None, await DeleteAsync("guarded"));
    }
}
