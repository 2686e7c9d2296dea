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

    internal EmbeddedBroker Broker => _broker ?? throw new InvalidOperationException("not started");

    internal EmbeddedClient Client => _client ?? throw new InvalidOperationException("not started");

    protected static CancellationToken Token => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _broker = await EmbeddedBroker.StartAsync(_dir.Path, Settings);
        _client = _broker.Connect();
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
        ProduceResponse response = await Client.SendAsync<ProduceResponse>(ApiKey.Produce, 9, EmbeddedClient.ProduceOf(topic, partition, Batches.Create(records), acks), cancellationToken: Token);
        ProduceResponse.PartitionProduceResponse answer = response.Responses[0].PartitionResponses[0];
        Assert.Equal(0, answer.ErrorCode);
        return answer.BaseOffset;
    }
}
