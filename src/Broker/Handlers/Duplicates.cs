namespace LogBroker.Broker.Handlers;

/// <summary>
/// Finds entries a request lists more than once, so that handlers can answer them the way Kafka does
/// (refused with INVALID_REQUEST, or answered once) and no response grows faster than its request.
/// </summary>
internal static class Duplicates
{
    /// <summary>The keys that occur more than once, or null when every key is distinct.</summary>
    public static HashSet<T>? Repeated<T>(IEnumerable<T> keys)
        where T : notnull
    {
        HashSet<T>? seen = null;
        HashSet<T>? repeated = null;
        foreach (T key in keys)
        {
            seen ??= [];
            if (!seen.Add(key))
            {
                (repeated ??= []).Add(key);
            }
        }

        return repeated;
    }

    /// <summary>Each id once, in the order of its first occurrence (ordinal comparison).</summary>
    public static IEnumerable<string> Once(IEnumerable<string> ids)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string id in ids)
        {
            if (seen.Add(id))
            {
                yield return id;
            }
        }
    }
}
