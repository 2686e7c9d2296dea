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

        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>A document's root object of format version 1 (read from <paramref name="source"/>, named in errors).</summary>
    /// <exception cref="InvalidDataException">Empty, of another version or not JSON.</exception>
    public static JsonNode Parse(byte[] document, string source)
    {
        try
        {
            JsonNode root = JsonNode.Parse(document) ?? throw new InvalidDataException($"{source} is empty.");
            return (int?)root["version"] == 1 ? root : throw new InvalidDataException($"{source} has an unknown format version.");
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"{source} is malformed: {e.Message}", e);
        }
    }
}
