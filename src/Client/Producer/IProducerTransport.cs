using LogBroker.Client.Network;
using LogBroker.Protocol.Messages;

namespace LogBroker.Client.Producer;

/// <summary>
/// What the producer needs from the cluster: topic metadata, a producer id and produce requests to a
/// broker. The real one runs over <see cref="Cluster"/>; unit tests pass a fake to drive the sender
/// without sockets.
/// </summary>
internal interface IProducerTransport : IAsyncDisposable
{
    /// <summary>One topic's metadata, retried until <paramref name="timeout"/>.</summary>
    Task<TopicInfo> TopicAsync(string topic, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Fresh metadata for <paramref name="topics"/>.</summary>
    Task<ClusterSnapshot> RefreshAsync(IReadOnlyCollection<string> topics, CancellationToken cancellationToken);

    Task<InitProducerIdResponse> InitProducerIdAsync(CancellationToken cancellationToken);

    /// <summary>Sends a produce request to <paramref name="node"/>; null when <paramref name="oneWay"/> (acks=0).</summary>
    Task<ProduceResponse?> ProduceAsync(int node, ProduceRequest request, bool oneWay, CancellationToken cancellationToken);

    /// <summary>Marks the cached metadata stale.</summary>
    void Invalidate();
}

/// <summary>The producer's transport over a <see cref="Cluster"/>.</summary>
internal sealed class ClusterProducerTransport(Cluster cluster, bool allowAutoCreateTopics) : IProducerTransport
{
    public Task<TopicInfo> TopicAsync(string topic, TimeSpan timeout, CancellationToken cancellationToken) =>
        cluster.RetryAsync(ct => cluster.TopicAsync(topic, allowAutoCreateTopics, ct), timeout, cancellationToken);

    public Task<ClusterSnapshot> RefreshAsync(IReadOnlyCollection<string> topics, CancellationToken cancellationToken) =>
        cluster.RefreshAsync(topics, allowAutoCreateTopics, cancellationToken);

    public Task<InitProducerIdResponse> InitProducerIdAsync(CancellationToken cancellationToken) =>
        cluster.SendAsync<InitProducerIdResponse>(-1, ApiKey.InitProducerId,
            _ => new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = int.MaxValue, ProducerId = -1, ProducerEpoch = -1 },
            cancellationToken);

    public async Task<ProduceResponse?> ProduceAsync(int node, ProduceRequest request, bool oneWay, CancellationToken cancellationToken)
    {
        BrokerConnection connection = await cluster.ConnectionAsync(node, cancellationToken).ConfigureAwait(false);
        short version = connection.RequireVersion(ApiKey.Produce);
        if (oneWay)
        {
            await connection.SendOneWayAsync(ApiKey.Produce, version, request, cancellationToken).ConfigureAwait(false);
            return null;
        }

        return await connection.SendAsync<ProduceResponse>(ApiKey.Produce, version, request, cancellationToken).ConfigureAwait(false);
    }

    public void Invalidate() => cluster.Invalidate();

    public ValueTask DisposeAsync() => cluster.DisposeAsync();
}
