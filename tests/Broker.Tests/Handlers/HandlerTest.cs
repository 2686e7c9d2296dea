using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>A fresh <see cref="EmbeddedBroker"/> per test and one connection to it; helpers for topics.</summary>
public abstract class HandlerTest : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("handlers");
    private EmbeddedBroker? _broker;
    private EmbeddedClient? _client;

    /// <summary>Settings for the broker, as in broker.json ("Broker:NumPartitions").</summary>
    protected virtual IEnumerable<KeyValuePair<string, string?>> Settings => [];

    /// <summary>Topics created before each test (name, partitions): commits need their partitions to exist.</summary>
    protected virtual IReadOnlyList<(string Name, int Partitions)> Topics => [];

    internal EmbeddedBroker Broker => _broker ?? throw new InvalidOperationException("not started");

    internal EmbeddedClient Client => _client ?? throw new InvalidOperationException("not started");

    protected static CancellationToken Token => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _broker = await EmbeddedBroker.StartAsync(_dir.Path, Settings);
        _client = _broker.Connect();
        foreach ((string name, int partitions) in Topics)
        {
            await CreateTopicAsync(name, partitions);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        _dir.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Creates a topic through CreateTopics v4 and checks that it was created.</summary>
    protected async Task CreateTopicAsync(string name, int partitions = 1)
    {
        CreateTopicsResponse created = await Client.SendAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
        {
            Topics = [new CreateTopicsRequest.CreatableTopic { Name = name, NumPartitions = partitions, ReplicationFactor = 1 }],
        }, cancellationToken: Token);
        Assert.Equal(0, created.Topics[0].ErrorCode);
    }

    /// <summary>Produces one batch of <paramref name="records"/> records (acks=1) and returns its base offset.</summary>
    protected async Task<long> ProduceAsync(string topic, int partition, int records, short acks = 1)
    {
        ProduceResponse response = await Client.SendAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce(topic, partition, Batches.Create(records), acks), cancellationToken: Token);
        ProduceResponse.PartitionProduceResponse answer = response.Responses[0].PartitionResponses[0];
        Assert.Equal(0, answer.ErrorCode);
        return answer.BaseOffset;
    }

    /// <summary>Joins a classic group as a new member (v5: MEMBER_ID_REQUIRED first, then with the id) and returns the answer.</summary>
    private protected async Task<JoinGroupResponse> JoinAsync(string group, EmbeddedClient? client = null)
    {
        client ??= Client;
        var join = new JoinGroupRequest
        {
            GroupId = group,
            SessionTimeoutMs = 10_000,
            RebalanceTimeoutMs = 10_000,
            MemberId = "",
            ProtocolType = "consumer",
            Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = new byte[] { 0, 1 } }],
        };
        JoinGroupResponse first = await client.SendAsync<JoinGroupResponse>(ApiKey.JoinGroup, 5, join, cancellationToken: Token);
        Assert.Equal((short)Protocol.ErrorCode.MemberIdRequired, first.ErrorCode);
        join.MemberId = first.MemberId;
        return await client.SendAsync<JoinGroupResponse>(ApiKey.JoinGroup, 5, join, cancellationToken: Token);
    }

    /// <summary>Joins as the only member and syncs with an assignment: the group is then Stable.</summary>
    protected async Task<(string MemberId, int Generation)> StableGroupAsync(string group)
    {
        JoinGroupResponse joined = await JoinAsync(group);
        Assert.Equal(0, joined.ErrorCode);
        SyncGroupResponse synced = await Client.SendAsync<SyncGroupResponse>(ApiKey.SyncGroup, 3, new SyncGroupRequest
        {
            GroupId = group,
            GenerationId = joined.GenerationId,
            MemberId = joined.MemberId,
            Assignments = [new SyncGroupRequest.SyncGroupRequestAssignment { MemberId = joined.MemberId, Assignment = new byte[] { 7 } }],
        }, cancellationToken: Token);
        Assert.Equal(0, synced.ErrorCode);
        return (joined.MemberId, joined.GenerationId);
    }

    /// <summary>Commits offsets as a standalone consumer (generation -1, no member) and returns the partition error codes.</summary>
    protected async Task<short[]> CommitAsync(string group, string topic, long offset, string? metadata = null, int partition = 0)
    {
        OffsetCommitResponse response = await Client.SendAsync<OffsetCommitResponse>(ApiKey.OffsetCommit, 8, new OffsetCommitRequest
        {
            GroupId = group,
            GenerationIdOrMemberEpoch = -1,
            MemberId = "",
            Topics =
            [
                new OffsetCommitRequest.OffsetCommitRequestTopic
                {
                    Name = topic,
                    Partitions = [new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = partition, CommittedOffset = offset, CommittedLeaderEpoch = -1, CommittedMetadata = metadata }],
                },
            ],
        }, cancellationToken: Token);
        return [.. response.Topics.SelectMany(t => t.Partitions).Select(p => p.ErrorCode)];
    }
}
