using System.Text.Json;
using System.Text.Json.Nodes;
using LogBroker.Protocol.Security;
using LogBroker.Storage.Checkpoints;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Security.Authorization;

/// <summary>
/// Every ACL, in <c>acls.json</c> in the data directory. Each change rewrites the file atomically
/// (temporary file, fsync, rename) before it is visible, so an acknowledged CreateAcls/DeleteAcls survives
/// a crash. Readers take <see cref="Snapshot"/>, an immutable array swapped on change, without a lock.
/// In cluster mode the document is the cluster's (<see cref="Cluster.IReplicatedDocument"/>) and the file its cache.
/// </summary>
/// <remarks>At most <see cref="MaxAcls"/> bindings; a larger or malformed file stops the broker at start.</remarks>
internal sealed partial class AclStore : Cluster.IReplicatedDocument
{
    public const string FileName = "acls.json";

    /// <summary>The most ACLs the store holds; creations past it are refused.</summary>
    public const int MaxAcls = 100_000;

    private const long MaxFileBytes = 64L * 1024 * 1024;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private readonly string _path;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private volatile AclBinding[] _acls = [];

    public AclStore(string dataDirectory, ILogger<AclStore> logger)
    {
        _logger = logger;
        Directory.CreateDirectory(dataDirectory);
        _path = Path.Combine(dataDirectory, FileName);
        Load();
    }

    /// <summary>The current ACLs (never changed in place).</summary>
    public AclBinding[] Snapshot => _acls;

    /// <summary>Adds the bindings not yet present and makes the change durable; false (nothing changed) past <see cref="MaxAcls"/>.</summary>
    /// <exception cref="IOException">The file could not be written; nothing changed.</exception>
    public bool Add(IReadOnlyList<AclBinding> bindings)
    {
        lock (_lock)
        {
            var set = new HashSet<AclBinding>(_acls);
            var next = new List<AclBinding>(_acls);
            foreach (AclBinding b in bindings)
            {
                if (set.Add(b))
                {
                    next.Add(b);
                }
            }

            if (next.Count > MaxAcls)
            {
                return false;
            }

            if (next.Count != _acls.Length)
            {
                Commit([.. next]);
            }

            return true;
        }
    }

    /// <summary>Removes every binding matched by each filter; returns, per filter, what it removed.</summary>
    /// <exception cref="IOException">The file could not be written; nothing changed.</exception>
    public List<List<AclBinding>> Remove(IReadOnlyList<AclFilter> filters)
    {
        lock (_lock)
        {
            var removed = new List<List<AclBinding>>(filters.Count);
            var gone = new HashSet<AclBinding>();
            foreach (AclFilter filter in filters)
            {
                var matched = new List<AclBinding>();
                foreach (AclBinding b in _acls)
                {
                    if (filter.Matches(b))
                    {
                        matched.Add(b);
                        gone.Add(b);
                    }
                }

                removed.Add(matched);
            }

            if (gone.Count > 0)
            {
                var next = new List<AclBinding>(_acls.Length - gone.Count);
                foreach (AclBinding b in _acls)
                {
                    if (!gone.Contains(b))
                    {
                        next.Add(b);
                    }
                }

                Commit([.. next]);
            }

            return removed;
        }
    }

    public string Name => "acls";

    public Cluster.DocumentStage? Stage { get; set; }

    public byte[] Document() => Serialize(_acls);

    public void Install(byte[] document)
    {
        AclBinding[] acls = Parse(VersionedJsonFile.Parse(document, "the cluster's ACLs"), "the cluster's ACLs");
        lock (_lock)
        {
            _acls = acls;
            Log.Changed(_logger, acls.Length);
            Cluster.ClusterDocumentCache.Write(_path, document, _logger);
        }
    }

    private void Commit(AclBinding[] next)
    {
        byte[] document = Serialize(next);
        if (Stage is { } stage)
        {
            stage.Document = document; // the cluster's write installs it
            return;
        }

        AtomicFile.Write(_path, document);
        _acls = next;
        Log.Changed(_logger, next.Length);
    }

    private static byte[] Serialize(AclBinding[] acls)
    {
        var list = new JsonArray();
        foreach (AclBinding b in acls)
        {
            list.Add(new JsonObject
            {
                ["resourceType"] = b.ResourceType.ToString(),
                ["resourceName"] = b.ResourceName,
                ["patternType"] = b.PatternType.ToString(),
                ["principal"] = b.Principal,
                ["host"] = b.Host,
                ["operation"] = b.Operation.ToString(),
                ["permission"] = b.Permission.ToString(),
            });
        }

        return JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["version"] = 1, ["acls"] = list }, Indented);
    }

    private void Load()
    {
        if (VersionedJsonFile.Read(_path, MaxFileBytes) is { } root)
        {
            _acls = Parse(root, _path);
            Log.Loaded(_logger, _acls.Length, _path);
        }
    }

    private static AclBinding[] Parse(JsonNode root, string source)
    {
        try
        {
            var acls = new List<AclBinding>();
            foreach (JsonNode? n in root["acls"]?.AsArray() ?? [])
            {
                var b = new AclBinding(Enum.Parse<AclResourceType>((string?)n?["resourceType"] ?? ""), (string?)n?["resourceName"] ?? "",
                    Enum.Parse<AclPatternType>((string?)n?["patternType"] ?? ""), (string?)n?["principal"] ?? "", (string?)n?["host"] ?? "",
                    Enum.Parse<AclOperation>((string?)n?["operation"] ?? ""), Enum.Parse<AclPermissionType>((string?)n?["permission"] ?? ""));
                if (b.Invalid() is { } why || acls.Count >= MaxAcls)
                {
                    throw new InvalidDataException($"ACL {acls.Count} is invalid or over the limit");
                }

                acls.Add(b);
            }

            return [.. acls];
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or InvalidCastException or ArgumentException)
        {
            throw new InvalidDataException($"{source} is malformed: {e.Message}", e);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5401, Level = LogLevel.Information, Message = "Loaded {Count} ACLs from {Path}")]
        public static partial void Loaded(ILogger logger, int count, string path);

        [LoggerMessage(EventId = 5402, Level = LogLevel.Information, Message = "ACLs changed; {Count} ACLs")]
        public static partial void Changed(ILogger logger, int count);
    }
}
