using System.Collections.Concurrent;

namespace LogBroker.Broker.Quotas;

/// <summary>
/// Measures each client's produce and fetch byte rates against its quota and says how long to throttle it,
/// as Kafka's ClientQuotaManager does: the quota of a (user, client id) is the first one configured in
/// KIP-55's order, and the rate is measured per the entity that quota came from (a user quota is shared by
/// all of that user's client ids; a client-id quota by every user of that client id).
/// </summary>
/// <remarks>
/// Free when no quota of a type is configured (one volatile read). Resolved limits and rate sensors are
/// bounded by <see cref="MaxSensors"/>: when full, sensors idle for a whole window are dropped first, then all.
/// </remarks>
internal sealed class ClientQuotaManager
{
    /// <summary>The most rate sensors (and resolved limits) kept at once.</summary>
    public const int MaxSensors = 50_000;

    private readonly ClientQuotaStore _store;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(QuotaType Type, string User, string Client), Resolved> _resolved = new();
    private readonly ConcurrentDictionary<(QuotaType Type, string User, string Client), RateSensor> _sensors = new();
    private readonly Lock _evicting = new();
    private volatile bool[] _enabled = new bool[QuotaKeys.Count];

    public ClientQuotaManager(ClientQuotaStore store, TimeProvider time)
    {
        _store = store;
        _time = time;
        store.Changed += Refresh;
        Refresh();
    }

    /// <summary>Whether any quota of <paramref name="type"/> is configured.</summary>
    public bool IsEnabled(QuotaType type) => _enabled[(int)type];

    /// <summary>
    /// Records <paramref name="amount"/> for the client and returns the throttle time in ms (0: within quota
    /// or no quota). <paramref name="principal"/> is <c>User:name</c>; <paramref name="clientId"/> the request header's.
    /// </summary>
    public int RecordAndGetThrottleMs(QuotaType type, string principal, string? clientId, double amount)
    {
        if (!_enabled[(int)type] || Sensor(type, principal, clientId, out double limit) is not { } sensor)
        {
            return 0;
        }

        // A request quota's throttle is bounded by one window, as Kafka's ClientRequestQuotaManager bounds it.
        long max = type == QuotaType.Request ? RateSensor.WindowMs : RateSensor.Samples * RateSensor.WindowMs;
        return (int)sensor.RecordAndGetThrottleMs(amount, limit, _time.GetUtcNow().ToUnixTimeMilliseconds(), max);
    }

    /// <summary>
    /// Takes back <paramref name="amount"/> recorded by <see cref="RecordAndGetThrottleMs"/>: a throttled fetch
    /// is answered without its records, so what it would have sent must not count (Kafka's unrecordQuotaSensor).
    /// </summary>
    public void Unrecord(QuotaType type, string principal, string? clientId, double amount)
    {
        if (_enabled[(int)type] && Sensor(type, principal, clientId, out _) is { } sensor)
        {
            sensor.Record(-amount, _time.GetUtcNow().ToUnixTimeMilliseconds());
        }
    }

    /// <summary>
    /// The most that can be recorded at once without a certain throttle: the quota over the whole window but
    /// one sample (Kafka caps a consumer's fetch max_bytes to this, so one fetch cannot be throttled forever).
    /// <see cref="double.PositiveInfinity"/> when no quota applies.
    /// </summary>
    public double MaxValueInWindow(QuotaType type, string principal, string? clientId)
    {
        if (!_enabled[(int)type] || Sensor(type, principal, clientId, out double limit) is null)
        {
            return double.PositiveInfinity;
        }

        return limit * (RateSensor.Samples - 1) * RateSensor.WindowMs / 1000.0;
    }

    /// <summary>The sensor the client's <paramref name="type"/> is measured in and its limit; null when no quota applies.</summary>
    private RateSensor? Sensor(QuotaType type, string principal, string? clientId, out double limit)
    {
        string user = principal.StartsWith("User:", StringComparison.Ordinal) ? principal[5..] : principal;
        string client = clientId ?? "";
        var key = (type, user, client);
        if (!_resolved.TryGetValue(key, out Resolved resolved))
        {
            resolved = Resolve(type, user, client);
            MakeRoom(_resolved);
            _resolved[key] = resolved;
        }

        limit = resolved.Limit;
        if (double.IsNaN(limit))
        {
            return null;
        }

        var sensorKey = (type, resolved.User, resolved.Client);
        if (!_sensors.TryGetValue(sensorKey, out RateSensor? sensor))
        {
            MakeRoom(_sensors);
            sensor = _sensors.GetOrAdd(sensorKey, static _ => new RateSensor());
        }

        return sensor;
    }

    /// <summary>The quota that applies to (<paramref name="user"/>, <paramref name="client"/>) and the entity its rate is measured for.</summary>
    internal Resolved Resolve(QuotaType type, string user, string client)
    {
        IReadOnlyDictionary<QuotaEntity, double[]> quotas = _store.Snapshot;
        int t = (int)type;

        // KIP-55's order, most specific first.
        if (Find(quotas, QuotaEntity.ForUserClient(user, client), t, out double v)
            || Find(quotas, QuotaEntity.ForUserClient(user, null), t, out v))
        {
            return new Resolved(v, user, client);
        }

        if (Find(quotas, QuotaEntity.ForUser(user), t, out v))
        {
            return new Resolved(v, user, "");
        }

        if (Find(quotas, QuotaEntity.ForUserClient(null, client), t, out v)
            || Find(quotas, QuotaEntity.ForUserClient(null, null), t, out v))
        {
            return new Resolved(v, user, client);
        }

        if (Find(quotas, QuotaEntity.ForUser(null), t, out v))
        {
            return new Resolved(v, user, "");
        }

        if (Find(quotas, QuotaEntity.ForClient(client), t, out v) || Find(quotas, QuotaEntity.ForClient(null), t, out v))
        {
            return new Resolved(v, "", client);
        }

        return new Resolved(double.NaN, "", "");
    }

    private static bool Find(IReadOnlyDictionary<QuotaEntity, double[]> quotas, QuotaEntity entity, int type, out double value)
    {
        value = quotas.TryGetValue(entity, out double[]? values) ? values[type] : double.NaN;
        return !double.IsNaN(value);
    }

    private void Refresh()
    {
        var enabled = new bool[QuotaKeys.Count];
        foreach (double[] values in _store.Snapshot.Values)
        {
            for (int i = 0; i < enabled.Length; i++)
            {
                enabled[i] |= !double.IsNaN(values[i]);
            }
        }

        _resolved.Clear();
        _enabled = enabled;
    }

    private void MakeRoom<TValue>(ConcurrentDictionary<(QuotaType, string, string), TValue> map)
    {
        if (map.Count < MaxSensors)
        {
            return;
        }

        lock (_evicting)
        {
            if (map.Count < MaxSensors)
            {
                return;
            }

            long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            foreach (KeyValuePair<(QuotaType, string, string), TValue> entry in map)
            {
                if (entry.Value is not RateSensor sensor || now - sensor.LastUsedMs > RateSensor.Samples * RateSensor.WindowMs)
                {
                    map.TryRemove(entry.Key, out _);
                }
            }

            if (map.Count >= MaxSensors)
            {
                map.Clear();
            }
        }
    }

    /// <summary>A resolved quota: its limit (NaN: none) and the user and client id its rate is measured for.</summary>
    internal readonly record struct Resolved(double Limit, string User, string Client);
}
