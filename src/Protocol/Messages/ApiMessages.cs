using LogBroker.Protocol.Primitives;

namespace LogBroker.Protocol.Messages;

/// <summary>
/// Per-API facts from the schemas: version ranges, which versions are flexible, and factories for the
/// message classes. Also the request and response header rules (KIP-482 / KIP-511).
/// </summary>
/// <remarks>
/// The tables for generated messages are emitted by tools/ProtocolGen into Generated/ApiMessages.g.cs;
/// this file adds only the APIs whose classes are written by hand (OffsetDelete, DescribeLogDirs).
/// </remarks>
public static partial class ApiMessages
{
    /// <summary>True when the API key has a schema here.</summary>
    public static bool IsKnown(short key) => Enum.IsDefined((ApiKey)key);

    /// <summary>The versions the schema defines for <paramref name="key"/>.</summary>
    public static (short Lowest, short Highest) SchemaVersions(ApiKey key) => GeneratedSchemaVersions(key) ?? key switch
    {
        ApiKey.OffsetDelete => (OffsetDeleteRequest.LowestVersion, OffsetDeleteRequest.HighestVersion),
        ApiKey.DescribeLogDirs => (DescribeLogDirsRequest.LowestVersion, DescribeLogDirsRequest.HighestVersion),
        _ => throw new ArgumentOutOfRangeException(nameof(key)),
    };

    /// <summary>True when the request of this version is flexible (request header v2).</summary>
    public static bool IsFlexibleRequest(ApiKey key, short version) => GeneratedIsFlexibleRequest(key, version) ?? key switch
    {
        ApiKey.OffsetDelete => OffsetDeleteRequest.IsFlexible(version),
        ApiKey.DescribeLogDirs => DescribeLogDirsRequest.IsFlexible(version),
        _ => false,
    };

    /// <summary>True when the response body of this version is flexible.</summary>
    public static bool IsFlexibleResponse(ApiKey key, short version) => GeneratedIsFlexibleResponse(key, version) ?? key switch
    {
        ApiKey.OffsetDelete => OffsetDeleteResponse.IsFlexible(version),
        ApiKey.DescribeLogDirs => DescribeLogDirsResponse.IsFlexible(version),
        _ => false,
    };

    /// <summary>A new, empty request object for <paramref name="key"/>.</summary>
    public static IKafkaMessage CreateRequest(ApiKey key) => GeneratedCreateRequest(key) ?? key switch
    {
        ApiKey.OffsetDelete => new OffsetDeleteRequest(),
        ApiKey.DescribeLogDirs => new DescribeLogDirsRequest(),
        _ => throw new ArgumentOutOfRangeException(nameof(key)),
    };

    /// <summary>A new, empty response object for <paramref name="key"/>.</summary>
    public static IKafkaMessage CreateResponse(ApiKey key) => GeneratedCreateResponse(key) ?? key switch
    {
        ApiKey.OffsetDelete => new OffsetDeleteResponse(),
        ApiKey.DescribeLogDirs => new DescribeLogDirsResponse(),
        _ => throw new ArgumentOutOfRangeException(nameof(key)),
    };

    /// <summary>
    /// Response header version: v1 (with a tagged-field section) when the response is flexible, except
    /// ApiVersions, whose response header is always v0 so that any client can read the error.
    /// </summary>
    public static bool ResponseHeaderHasTaggedFields(ApiKey key, short version) =>
        key != ApiKey.ApiVersions && IsFlexibleResponse(key, version);

    /// <summary>Writes a response header (correlation id, and tagged fields when <paramref name="key"/>'s version needs them).</summary>
    public static void WriteResponseHeader(ref KafkaWriter writer, ApiKey key, short version, int correlationId)
    {
        writer.WriteInt32(correlationId);
        if (ResponseHeaderHasTaggedFields(key, version))
        {
            writer.WriteEmptyTaggedFields();
        }
    }
}
