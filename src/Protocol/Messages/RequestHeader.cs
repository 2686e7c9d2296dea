using LogBroker.Protocol.Primitives;

namespace LogBroker.Protocol.Messages;

/// <summary>
/// A request header: v1 (<c>api_key, api_version, correlation_id, client_id</c>) or v2 (v1 plus a
/// tagged-field section) when the request version is flexible. The client id stays a classic
/// int16-length string in both.
/// </summary>
public readonly record struct RequestHeader(short ApiKey, short ApiVersion, int CorrelationId, string? ClientId)
{
    /// <summary>
    /// Reads the api key, version and correlation id, which every header version starts with. A
    /// frame too short for them fails the reader.
    /// </summary>
    public static RequestHeader ReadPrefix(ref KafkaReader reader)
    {
        short key = reader.ReadInt16();
        short version = reader.ReadInt16();
        int correlationId = reader.ReadInt32();
        return new RequestHeader(key, version, correlationId, null);
    }

    /// <summary>
    /// Reads a whole header. For an API key without a schema here, or a version outside the schema,
    /// the header version is unknown: only the prefix and client id are read (enough to answer).
    /// </summary>
    public static RequestHeader Read(ref KafkaReader reader)
    {
        RequestHeader prefix = ReadPrefix(ref reader);
        string? clientId = reader.ReadNullableString();
        if (ApiMessages.IsKnown(prefix.ApiKey) && ApiMessages.IsFlexibleRequest((Messages.ApiKey)prefix.ApiKey, prefix.ApiVersion))
        {
            reader.SkipTaggedFields();
        }

        return prefix with { ClientId = clientId };
    }

    /// <summary>Writes the header in the version the request needs.</summary>
    public void Write(ref KafkaWriter writer)
    {
        writer.WriteInt16(ApiKey);
        writer.WriteInt16(ApiVersion);
        writer.WriteInt32(CorrelationId);
        writer.WriteNullableString(ClientId);
        if (ApiMessages.IsKnown(ApiKey) && ApiMessages.IsFlexibleRequest((Messages.ApiKey)ApiKey, ApiVersion))
        {
            writer.WriteEmptyTaggedFields();
        }
    }
}
