using System.Text.Json;
using LogBroker.Broker.Replication;

namespace LogBroker.Broker.Cluster;

/// <summary>A live broker as registered under its lease: where it listens, and its broker epoch (KIP-903).</summary>
/// <param name="Id">The broker id.</param>
/// <param name="Host">The advertised host for clients and replica fetches.</param>
/// <param name="Port">The advertised port.</param>
/// <param name="Rack">The rack, or null.</param>
public sealed record BrokerRegistration(int Id, string Host, int Port, string? Rack)
{
    /// <summary>The registration key's create revision: a restarted broker gets a new, larger one.</summary>
    public long BrokerEpoch { get; init; }
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
