using System.Text.Json;
using System.Text.Json.Nodes;

namespace LogBroker.Broker.Security;

/// <summary>
/// Reads one of the broker's small durable JSON files (SCRAM credentials, ACLs, client quotas): bounded
/// in size before it is read, and of format version 1. What the file holds is the caller's to parse.
/// </summary>
internal static class VersionedJsonFile
{
    /// <summary>
    /// The file's root object, or null when there is no file. A file over <paramref name="maxBytes"/>, empty,
    /// of another version or not JSON throws <see cref="InvalidDataException"/> naming it: the broker stops at start.
    /// </summary>
    public static JsonNode? Read(string path, long maxBytes)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        long length = new FileInfo(path).Length;
        if (length > maxBytes)
        {
            throw new InvalidDataException($"{path} is {length} bytes, over the {maxBytes}-byte limit.");
        }

        try
        {
            JsonNode root = JsonNode.Parse(File.ReadAllBytes(path)) ?? throw new InvalidDataException($"{path} is empty.");
            return (int?)root["version"] == 1 ? root : throw new InvalidDataException($"{path} has an unknown format version.");
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path} is malformed: {e.Message}", e);
        }
    }
}
