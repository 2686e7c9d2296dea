using System.Text.Json;
using System.Text.Json.Nodes;
using LogBroker.Broker.Security;
using LogBroker.Storage.Checkpoints;

namespace LogBroker.Broker.Quotas;

/// <summary>
/// The configured client quotas (KIP-55 entities and their values), in <c>client-quotas.json</c> in the
/// data directory. Every change is written atomically (temporary file, fsync, rename) before it is visible,
/// so an acknowledged AlterClientQuotas survives a crash. Readers get an immutable snapshot, swapped whole.
/// </summary>
/// <remarks>At most <see cref="MaxEntities"/> entities; a file over <see cref="MaxFileBytes"/> or malformed stops the broker at start.</remarks>
internal sealed class ClientQuotaStore : Cluster.IReplicatedDocument
{
    public const string FileName = "client-quotas.json";

    /// <summary>The most entities with a quota; an alteration adding more is refused.</summary>
    public const int MaxEntities = 100_000;

    private const long MaxFileBytes = 64L * 1024 * 1024;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private readonly string? _path;
    private readonly Lock _lock = new();
    private volatile Dictionary<QuotaEntity, double[]> _quotas = [];

    /// <summary>A store persisted in <paramref name="dataDirectory"/>, or in memory only when it is null (tests).</summary>
    public ClientQuotaStore(string? dataDirectory)
    {
        if (dataDirectory is not null)
        {
            Directory.CreateDirectory(dataDirectory);
            _path = Path.Combine(dataDirectory, FileName);
            _quotas = Load(_path);
        }
    }

    /// <summary>Raised after every applied change (the quota manager drops its resolved limits).</summary>
    public event Action? Changed;

    /// <summary>The current quotas: entity to a value per <see cref="QuotaType"/> (NaN: none). Do not modify.</summary>
    public IReadOnlyDictionary<QuotaEntity, double[]> Snapshot => _quotas;

    /// <summary>
    /// Applies <paramref name="changes"/> (per entity, per type: a value to set, or NaN to remove) together and
    /// makes them durable before returning.
    /// </summary>
    /// <exception cref="InvalidOperationException">The change would exceed <see cref="MaxEntities"/>; nothing changed.</exception>
    /// <exception cref="IOException">The file could not be written; nothing changed.</exception>
    public void Apply(IReadOnlyList<(QuotaEntity Entity, QuotaType Type, double Value)> changes)
    {
        lock (_lock)
        {
            var next = new Dictionary<QuotaEntity, double[]>(_quotas.Count + changes.Count);
            foreach ((QuotaEntity entity, double[] values) in _quotas)
            {
                next[entity] = (double[])values.Clone();
            }

            foreach ((QuotaEntity entity, QuotaType type, double value) in changes)
            {
                if (!next.TryGetValue(entity, out double[]? values))
                {
                    if (double.IsNaN(value))
                    {
                        continue; // removing what is not there changes nothing, as in Kafka
                    }

                    next[entity] = values = [double.NaN, double.NaN, double.NaN];
                }

                values[(int)type] = value;
                if (double.IsNaN(values[0]) && double.IsNaN(values[1]) && double.IsNaN(values[2]))
                {
                    next.Remove(entity);
                }
            }

            if (next.Count > MaxEntities)
            {
                throw new InvalidOperationException($"At most {MaxEntities} quota entities.");
            }

            if (Stage is { } stage)
            {
                stage.Document = Serialize(next); // the cluster's write installs it
                return;
            }

            if (_path is not null)
            {
                AtomicFile.Write(_path, Serialize(next));
            }

            _quotas = next;
        }

        Changed?.Invoke();
    }

    public string Name => "client-quotas";

    public Cluster.DocumentStage? Stage { get; set; }

    public byte[] Document() => Serialize(_quotas);

    public void Install(byte[] document)
    {
        var quotas = Parse(VersionedJsonFile.Parse(document, "the cluster's client quotas"), "the cluster's client quotas");
        lock (_lock)
        {
            _quotas = quotas;
            Cluster.ClusterDocumentCache.Write(_path, document, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        }

        Changed?.Invoke();
    }

    private static byte[] Serialize(Dictionary<QuotaEntity, double[]> quotas)
    {
        var list = new JsonArray();
        foreach ((QuotaEntity entity, double[] values) in quotas)
        {
            var entry = new JsonObject();
            if (entity.HasUser)
            {
                entry["user"] = entity.User is null ? new JsonObject { ["default"] = true } : entity.User;
            }

            if (entity.HasClientId)
            {
                entry["client-id"] = entity.ClientId is null ? new JsonObject { ["default"] = true } : entity.ClientId;
            }

            var config = new JsonObject();
            for (int i = 0; i < values.Length; i++)
            {
                if (!double.IsNaN(values[i]))
                {
                    config[QuotaKeys.Name((QuotaType)i)] = values[i];
                }
            }

            entry["quotas"] = config;
            list.Add(entry);
        }

        return JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["version"] = 1, ["entities"] = list }, Indented);
    }

    private static Dictionary<QuotaEntity, double[]> Load(string path) =>
        VersionedJsonFile.Read(path, MaxFileBytes) is { } root ? Parse(root, path) : [];

    private static Dictionary<QuotaEntity, double[]> Parse(JsonNode root, string path)
    {
        var quotas = new Dictionary<QuotaEntity, double[]>();
        try
        {

            foreach (JsonNode? entry in root["entities"]?.AsArray() ?? [])
            {
                (bool hasUser, string? user) = Part(entry?["user"]);
                (bool hasClient, string? client) = Part(entry?["client-id"]);
                if (!hasUser && !hasClient)
                {
                    throw new InvalidDataException("an entity with neither user nor client-id");
                }

                double[] values = [double.NaN, double.NaN, double.NaN];
                foreach ((string key, JsonNode? value) in entry?["quotas"]?.AsObject() ?? [])
                {
                    QuotaType type = QuotaKeys.Parse(key) ?? throw new InvalidDataException($"unknown quota key {key}");
                    double v = (double?)value ?? double.NaN;
                    if (QuotaKeys.Invalid(type, v) is { } why)
                    {
                        throw new InvalidDataException(why);
                    }

                    values[(int)type] = v;
                }

                quotas[new QuotaEntity(hasUser, user, hasClient, client)] = values;
                if (quotas.Count > MaxEntities)
                {
                    throw new InvalidDataException($"over {MaxEntities} entities");
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path} is malformed: {e.Message}", e);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path} is malformed: {e.Message}", e);
        }

        return quotas;
    }

    private static (bool Has, string? Name) Part(JsonNode? node) => node switch
    {
        null => (false, null),
        JsonObject o when (bool?)o["default"] == true => (true, null),
        JsonValue v => (true, (string?)v ?? throw new InvalidDataException("an entity name is not a string")),
        _ => throw new InvalidDataException("an entity part is neither a name nor the default"),
    };
}
