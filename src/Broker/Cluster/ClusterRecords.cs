using System.Text.Json;
using LogBroker.Broker.Replication;

namespace LogBroker.Broker.Cluster;

/// <summary>A live broker as registered under its lease: where it listens, and its broker epoch (KIP-903).</summary>
/// <param name="Id">The broker id.</param>
/// <param name="Host">The advertised host of the inter-broker listener (replica fetches).</param>
/// <param name="Port">Its advertised port.</param>
/// <param name="Rack">The rack, or null.</param>
public sealed record BrokerRegistration(int Id, string Host, int Port, string? Rack)
{
    /// <summary>The registration key's create revision: a restarted broker gets a new, larger one.</summary>
    public long BrokerEpoch { get; init; }

    /// <summary>
    /// Every listener of the broker, as Kafka registers them; null in a registration written before listeners were
    /// registered, whose one endpoint is <see cref="Host"/>:<see cref="Port"/>.
    /// </summary>
    public IReadOnlyList<BrokerEndpoint>? Endpoints { get; init; }

    /// <summary>The name of the listener in <see cref="Endpoints"/> that other brokers fetch replicas from.</summary>
    public string? InterBrokerListener { get; init; }

    /// <summary>
    /// Where other brokers fetch replicas from this one: its inter-broker listener, or <see cref="Host"/>:<see cref="Port"/>
    /// in plaintext for a registration without listeners.
    /// </summary>
    public BrokerEndpoint InterBrokerEndpoint()
    {
        if (Endpoints is not null)
        {
            foreach (BrokerEndpoint endpoint in Endpoints)
            {
                if (string.Equals(endpoint.Name, InterBrokerListener, StringComparison.Ordinal))
                {
                    return endpoint;
                }
            }
        }

        return new BrokerEndpoint(InterBrokerListener ?? "PLAINTEXT", Host, Port, "PLAINTEXT");
    }

    /// <summary>
    /// The registration of a broker whose bound listeners are <paramref name="listeners"/> (advertised endpoints), with
    /// <paramref name="interBrokerListener"/> (null: the first) as the one replicas are fetched from.
    /// </summary>
    /// <exception cref="InvalidOperationException">No listener has that name.</exception>
    public static BrokerRegistration Of(int id, IReadOnlyList<BrokerEndpoint> listeners, string? interBrokerListener, string? rack)
    {
        ArgumentNullException.ThrowIfNull(listeners);
        BrokerEndpoint? inter = null;
        foreach (BrokerEndpoint endpoint in listeners)
        {
            if (interBrokerListener is null ? inter is null : string.Equals(endpoint.Name, interBrokerListener, StringComparison.Ordinal))
            {
                inter = endpoint;
            }
        }

        if (inter is null)
        {
            throw new InvalidOperationException($"Replication:InterBrokerListener '{interBrokerListener}' names none of the listeners.");
        }

        return new BrokerRegistration(id, inter.Host, inter.Port, rack) { Endpoints = listeners, InterBrokerListener = inter.Name };
    }

    /// <summary>
    /// Where a client that came in on the listener named <paramref name="listener"/> reaches this broker: the broker's
    /// listener of that name (Kafka answers each client with the endpoints of its own listener), or null when the broker
    /// has none. A null name (no listener known, an in-process caller) or an old registration gives the inter-broker endpoint.
    /// </summary>
    public (string Host, int Port)? EndpointFor(string? listener)
    {
        if (listener is null || Endpoints is null)
        {
            return (Host, Port);
        }

        foreach (BrokerEndpoint endpoint in Endpoints)
        {
            if (string.Equals(endpoint.Name, listener, StringComparison.Ordinal))
            {
                return (endpoint.Host, endpoint.Port);
            }
        }

        return null;
    }
}

/// <summary>A topic as the controller records it.</summary>
/// <param name="Name">The topic name.</param>
/// <param name="TopicId">The topic id.</param>
/// <param name="Partitions">The partition count.</param>
/// <param name="ReplicationFactor">Replicas per partition.</param>
/// <param name="Configs">Topic configs (min.insync.replicas, retention, ...).</param>
public sealed record TopicRecord(string Name, Guid TopicId, int Partitions, int ReplicationFactor, IReadOnlyDictionary<string, string> Configs);

/// <summary>JSON encoding of the records stored in the controller store.</summary>
public static class ClusterJson
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    /// <summary>Encodes a record.</summary>
    public static byte[] Encode<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    /// <summary>Decodes a record, or null when the bytes are not one (a foreign or corrupt key is skipped, not fatal).</summary>
    public static T? Decode<T>(byte[] bytes)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(bytes, Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Decodes a partition state, checking the fields every consumer relies on.</summary>
    public static PartitionState? DecodePartition(byte[] bytes)
    {
        var state = Decode<PartitionState>(bytes);
        return state is { Topic: not null, Replicas: not null, Isr: not null, AddingReplicas: not null, RemovingReplicas: not null } && state.Partition >= 0 ? state : null;
    }
}
