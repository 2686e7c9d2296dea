using LogBroker.Broker.Cluster;
using LogBroker.Broker.Handlers;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Broker.Tests.Handlers;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Storage;
using LogBroker.TestKit;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>ElectLeaders over the wire on a single node: the only replica always leads.</summary>
public sealed class ElectLeadersSingleNodeTests : HandlerTest
{
    protected override IReadOnlyList<(string Name, int Partitions)> Topics => [("t", 2)];

    [Theory]
    [InlineData((short)0)]
    [InlineData((short)2)]
    public async Task Existing_partitions_need_no_election_and_unknown_ones_are_named(short version)
    {
        var request = new ElectLeadersRequest { TopicPartitions = [new() { Topic = "t", Partitions = [0, 1, 5] }, new() { Topic = "nope", Partitions = [0] }] };
        var response = await Client.SendAsync<ElectLeadersResponse>(ApiKey.ElectLeaders, version, request, cancellationToken: Token);
        Assert.Equal(0, response.ErrorCode);
        Assert.Equal(["t", "nope"], response.ReplicaElectionResults.Select(r => r.Topic));
        Assert.Equal(
            [ErrorCode.ElectionNotNeeded, ErrorCode.ElectionNotNeeded, ErrorCode.UnknownTopicOrPartition],
            response.ReplicaElectionResults[0].PartitionResult.Select(p => (ErrorCode)p.ErrorCode));
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, (ErrorCode)response.ReplicaElectionResults[1].PartitionResult[0].ErrorCode);
    }

    [Fact]
    public async Task An_unknown_election_type_is_an_invalid_request()
    {
        var request = new ElectLeadersRequest { ElectionType = 7, TopicPartitions = [new() { Topic = "t", Partitions = [0] }] };
        var response = await Client.SendAsync<ElectLeadersResponse>(ApiKey.ElectLeaders, 2, request, cancellationToken: Token);
        Assert.Equal(ErrorCode.InvalidRequest, (ErrorCode)response.ErrorCode);
        Assert.Equal(ErrorCode.InvalidRequest, (ErrorCode)response.ReplicaElectionResults[0].PartitionResult[0].ErrorCode);
    }
}

/// <summary>ElectLeaders' handler in cluster mode: two brokers' cluster services on one fake store.</summary>
public sealed class ElectLeadersClusterHandlerTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("elect");
    private readonly FakeControllerStore _store = new();
    private readonly List<ClusterService> _services = [];
    private LogManager? _logs;
    private TopicRegistry? _topics;
    private readonly List<TestBroker> _brokers = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _logs = LogManager.Open(new StorageOptions { DataDirectory = _dir.Path }, TimeProvider.System);
        _topics = new TopicRegistry(_logs, LogConfig.Default, NullLogger<TopicRegistry>.Instance);
        var options = new ClusterOptions { LeaseTtl = TimeSpan.FromSeconds(10) };
        foreach (var id in new[] { 1, 2 })
        {
            var broker = new TestBroker(_store, options, id);
            _brokers.Add(broker);
            var service = broker.Service;
            _services.Add(service);
            await service.StartAsync(Ct);
        }

        for (var i = 0; i < 400 && (_services.All(s => s.Controller is null) || _services.Any(s => s.Registration is null) || _services[0].Brokers.Count < 2); i++)
        {
            await Task.Delay(25, Ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in _services)
        {
            await s.StopAsync(CancellationToken.None);
        }

        foreach (TestBroker broker in _brokers)
        {
            broker.Dispose();
        }

        _topics?.Dispose();
        _logs?.Dispose();
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task Only_the_controller_elects_and_alter_on_the_cluster_is_required()
    {
        var controllerService = Assert.Single(_services, s => s.Controller is not null);
        var other = Assert.Single(_services, s => s.Controller is null);
        Assert.Equal(ControllerResult.Ok, await controllerService.Controller!.CreateTopicAsync("t", 2, 2, new Dictionary<string, string>(), 0, Ct));
        var request = new ElectLeadersRequest { TopicPartitions = [new() { Topic = "t", Partitions = [0, 1] }] };

        var elsewhere = await Handler(other, authorization: false).HandleAsync(Context(), request);
        Assert.Equal(ErrorCode.NotController, (ErrorCode)elsewhere!.ErrorCode);
        Assert.All(elsewhere.ReplicaElectionResults[0].PartitionResult, p => Assert.Equal(ErrorCode.NotController, (ErrorCode)p.ErrorCode));

        var denied = await Handler(controllerService, authorization: true).HandleAsync(Context(), request);
        Assert.Equal(ErrorCode.ClusterAuthorizationFailed, (ErrorCode)denied!.ErrorCode);

        var answered = await Handler(controllerService, authorization: false).HandleAsync(Context(), request);
        Assert.Equal(ErrorCode.None, (ErrorCode)answered!.ErrorCode);
        Assert.All(answered.ReplicaElectionResults[0].PartitionResult, p => Assert.Equal(ErrorCode.ElectionNotNeeded, (ErrorCode)p.ErrorCode));
    }

    private static RequestContext Context() => new([], 0, new RequestHeader((short)ApiKey.ElectLeaders, 2, 1, "test"), "test");

    private ElectLeadersHandler Handler(ClusterService service, bool authorization)
    {
        var acls = new AclStore(Directory.CreateDirectory(_dir.Combine("acls")).FullName, NullLogger<AclStore>.Instance);
        var authorizer = new Authorizer(Options.Create(new SecurityOptions { AuthorizationEnabled = authorization }), acls, NullLogger<Authorizer>.Instance);
        return new ElectLeadersHandler(authorizer, _topics!, service);
    }
}
