using System.Text.Json;
using System.Text.Json.Nodes;
using LogBroker.Storage.Checkpoints;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Security;

/// <summary>
/// The SCRAM credentials of every user (KIP-554's store), in <c>scram-credentials.json</c> in the data
/// directory: per user and mechanism the salt, iterations, StoredKey and ServerKey, never a password.
/// Every change rewrites the file atomically (temporary file, fsync, rename, fsync of the directory)
/// before it is visible, so an acknowledged change survives a crash and a crash leaves the old or the new file.
/// </summary>
/// <remarks>The file is at most <see cref="MaxFileBytes"/>; a larger or malformed one stops the broker at start with a clear error.</remarks>
internal sealed partial class ScramCredentialStore : Cluster.IReplicatedDocument
{
    public const string FileName = "scram-credentials.json";

    /// <summary>The most users the store holds; more upserts get RESOURCE_NOT_FOUND-free refusal (UNACCEPTABLE_CREDENTIAL).</summary>
    public const int MaxUsers = 100_000;

    private const long MaxFileBytes = 64L * 1024 * 1024;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private readonly string _path;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private Dictionary<string, Dictionary<string, ScramCredential>> _users = new(StringComparer.Ordinal);

    public ScramCredentialStore(string dataDirectory, ILogger<ScramCredentialStore> logger)
    {
        _logger = logger;
        Directory.CreateDirectory(dataDirectory);
        _path = Path.Combine(dataDirectory, FileName);
        Load();
    }

    /// <summary>Users with at least one credential.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _users.Count;
            }
        }
    }

    public bool TryGet(string user, ScramMechanism mechanism, out ScramCredential? credential)
    {
        lock (_lock)
        {
            credential = null;
            return _users.TryGetValue(user, out Dictionary<string, ScramCredential>? byMechanism) && byMechanism.TryGetValue(mechanism.Name, out credential);
        }
    }

    /// <summary>The user's mechanisms and iterations, or null when the user has no credential.</summary>
    public List<(ScramMechanism Mechanism, int Iterations)>? Describe(string user)
    {
        lock (_lock)
        {
            if (!_users.TryGetValue(user, out Dictionary<string, ScramCredential>? byMechanism))
            {
                return null;
            }

            var list = new List<(ScramMechanism, int)>(byMechanism.Count);
            foreach ((string name, ScramCredential credential) in byMechanism)
            {
                list.Add((ScramMechanism.FromName(name)!, credential.Iterations));
            }

            list.Sort((a, b) => a.Item1.Type.CompareTo(b.Item1.Type));
            return list;
        }
    }

    /// <summary>Every user name, sorted.</summary>
    public List<string> UserNames()
    {
        lock (_lock)
        {
            var names = new List<string>(_users.Keys);
            names.Sort(StringComparer.Ordinal);
            return names;
        }
    }

    /// <summary>
    /// Applies deletions and upserts together and makes them durable before returning. A deletion of a
    /// credential that does not exist is reported in <paramref name="missing"/> and changes nothing.
    /// </summary>
    /// <exception cref="IOException">The file could not be written; nothing changed.</exception>
    public void Apply(IReadOnlyList<(string User, ScramMechanism Mechanism)> deletions, IReadOnlyList<(string User, ScramMechanism Mechanism, ScramCredential Credential)> upserts,
        ICollection<(string User, ScramMechanism Mechanism)> missing)
    {
        lock (_lock)
        {
            var next = new Dictionary<string, Dictionary<string, ScramCredential>>(_users.Count + upserts.Count, StringComparer.Ordinal);
            foreach ((string user, Dictionary<string, ScramCredential> byMechanism) in _users)
            {
                next[user] = new Dictionary<string, ScramCredential>(byMechanism, StringComparer.Ordinal);
            }

            foreach ((string user, ScramMechanism mechanism) in deletions)
            {
                if (next.TryGetValue(user, out Dictionary<string, ScramCredential>? byMechanism) && byMechanism.Remove(mechanism.Name))
                {
                    if (byMechanism.Count == 0)
                    {
                        next.Remove(user);
                    }
                }
                else
                {
                    missing.Add((user, mechanism));
                }
            }

            foreach ((string user, ScramMechanism mechanism, ScramCredential credential) in upserts)
            {
                if (!next.TryGetValue(user, out Dictionary<string, ScramCredential>? byMechanism))
                {
                    if (next.Count >= MaxUsers)
                    {
                        throw new InvalidOperationException($"The store holds {MaxUsers} users, its limit.");
                    }

                    next[user] = byMechanism = new Dictionary<string, ScramCredential>(StringComparer.Ordinal);
                }

                byMechanism[mechanism.Name] = credential;
            }

            if (deletions.Count > missing.Count || upserts.Count > 0)
            {
                byte[] document = Serialize(next);
                if (Stage is { } stage)
                {
                    stage.Document = document; // the cluster's write installs it
                    return;
                }

                AtomicFile.Write(_path, document);
                _users = next;
                Log.Changed(_logger, deletions.Count - missing.Count, upserts.Count, next.Count);
            }
        }
    }

    public string Name => "scram-credentials";

    public Cluster.DocumentStage? Stage { get; set; }

    public byte[] Document()
    {
        lock (_lock)
        {
            return Serialize(_users);
        }
    }

    public void Install(byte[] document)
    {
        var users = Parse(VersionedJsonFile.Parse(document, "the cluster's SCRAM credentials"), "the cluster's SCRAM credentials");
        lock (_lock)
        {
            _users = users;
            Log.Installed(_logger, users.Count);
            Cluster.ClusterDocumentCache.Write(_path, document, _logger);
        }
    }

    /// <summary>
    /// Creates <see cref="SecurityOptions.InitialUser"/>'s SCRAM-SHA-256 and SCRAM-SHA-512 credentials when
    /// that user has none (so a later password change through the API is not undone at the next start).
    /// </summary>
    public void EnsureInitialUser(SecurityOptions options)
    {
        if (options.InitialUser is null || options.InitialPassword is null)
        {
            return;
        }

        string user = ScramNames.Prepare(options.InitialUser) ?? throw new ArgumentException("Security:InitialUser is not a valid user name.");
        if (Describe(user) is not null)
        {
            return;
        }

        Apply([], [(user, ScramMechanism.Sha256, ScramMechanism.Sha256.Create(options.InitialPassword, options.ScramIterations)),
            (user, ScramMechanism.Sha512, ScramMechanism.Sha512.Create(options.InitialPassword, options.ScramIterations))], []);
        Log.InitialUser(_logger, user);
    }

    private static byte[] Serialize(Dictionary<string, Dictionary<string, ScramCredential>> users)
    {
        var root = new JsonObject { ["version"] = 1 };
        var list = new JsonObject();
        foreach ((string user, Dictionary<string, ScramCredential> byMechanism) in users)
        {
            var entry = new JsonObject();
            foreach ((string mechanism, ScramCredential c) in byMechanism)
            {
                entry[mechanism] = new JsonObject
                {
                    ["salt"] = Convert.ToBase64String(c.Salt),
                    ["iterations"] = c.Iterations,
                    ["storedKey"] = Convert.ToBase64String(c.StoredKey),
                    ["serverKey"] = Convert.ToBase64String(c.ServerKey),
                };
            }

            list[user] = entry;
        }

        root["users"] = list;
        return JsonSerializer.SerializeToUtf8Bytes(root, Indented);
    }

    private void Load()
    {
        if (VersionedJsonFile.Read(_path, MaxFileBytes) is { } root)
        {
            _users = Parse(root, _path);
            Log.Loaded(_logger, _users.Count, _path);
        }
    }

    private static Dictionary<string, Dictionary<string, ScramCredential>> Parse(JsonNode root, string source)
    {
        try
        {
            var users = new Dictionary<string, Dictionary<string, ScramCredential>>(StringComparer.Ordinal);
            foreach ((string user, JsonNode? entry) in root["users"]?.AsObject() ?? [])
            {
                var byMechanism = new Dictionary<string, ScramCredential>(StringComparer.Ordinal);
                foreach ((string name, JsonNode? c) in entry?.AsObject() ?? [])
                {
                    ScramMechanism mechanism = ScramMechanism.FromName(name) ?? throw new InvalidDataException($"unknown mechanism {name}");
                    int iterations = (int?)c?["iterations"] ?? 0;
                    byte[] salt = Convert.FromBase64String((string?)c?["salt"] ?? "");
                    byte[] stored = Convert.FromBase64String((string?)c?["storedKey"] ?? "");
                    byte[] server = Convert.FromBase64String((string?)c?["serverKey"] ?? "");
                    if (iterations is < ScramMechanism.MinIterations or > ScramMechanism.MaxIterations || salt.Length == 0
                        || stored.Length != mechanism.HashSize || server.Length != mechanism.HashSize)
                    {
                        throw new InvalidDataException($"the {name} credential of '{user}' is malformed");
                    }

                    byMechanism[mechanism.Name] = new ScramCredential(salt, iterations, stored, server);
                }

                if (byMechanism.Count > 0)
                {
                    users[user] = byMechanism;
                }

                if (users.Count > MaxUsers)
                {
                    throw new InvalidDataException($"over {MaxUsers} users");
                }
            }

            return users;
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or InvalidCastException)
        {
            throw new InvalidDataException($"{source} is malformed: {e.Message}", e);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "Loaded SCRAM credentials of {Users} users from {Path}")]
        public static partial void Loaded(ILogger logger, int users, string path);

        [LoggerMessage(EventId = 5103, Level = LogLevel.Information, Message = "Created the initial user {User} (SCRAM-SHA-256, SCRAM-SHA-512)")]
        public static partial void InitialUser(ILogger logger, string user);

        [LoggerMessage(EventId = 5102, Level = LogLevel.Information, Message = "SCRAM credentials changed: {Deleted} deleted, {Upserted} set; {Users} users")]
        public static partial void Changed(ILogger logger, int deleted, int upserted, int users);

        [LoggerMessage(EventId = 5104, Level = LogLevel.Information, Message = "SCRAM credentials from the cluster installed: {Users} users")]
        public static partial void Installed(ILogger logger, int users);
    }
}
