using LogBroker.Protocol;

namespace LogBroker.Broker.Security.Authorization;

/// <summary>
/// The rule CreateAcls and DeleteAcls apply to each entry (binding or filter) before touching the store: the
/// caller needs Alter on the cluster, a request carries at most <see cref="MaxPerRequest"/> entries, and the
/// entry itself must be well formed. One place, so both APIs refuse alike.
/// </summary>
internal static class AclRequestEntry
{
    /// <summary>Entries one request may carry; more are answered with INVALID_REQUEST each.</summary>
    public const int MaxPerRequest = 10_000;

    /// <summary>Why the entry is refused (with the error code to answer), or null when it may be applied.</summary>
    public static string? Refusal(bool clusterAlterAllowed, int entries, string? invalid, out ErrorCode error)
    {
        error = clusterAlterAllowed ? ErrorCode.InvalidRequest : ErrorCode.ClusterAuthorizationFailed;
        return !clusterAlterAllowed ? "Alter on the cluster is required."
            : entries > MaxPerRequest ? $"At most {MaxPerRequest} entries per request."
            : invalid;
    }

    /// <summary>
    /// Sorts a request's entries by <see cref="Refusal"/>, in order: each gets a result from <paramref name="newResult"/>,
    /// added to <paramref name="responseResults"/> in the entry's place; a refused entry gets its error through
    /// <paramref name="refuse"/> at once, and the others are returned, each with its result, for the store.
    /// </summary>
    public static (List<TItem> Admitted, List<TResult> Results) Admit<TEntry, TItem, TResult>(bool clusterAlterAllowed, IReadOnlyList<TEntry> entries,
        Func<TEntry, TItem> parse, Func<TItem, string?> invalid, List<TResult> responseResults, Func<TResult> newResult, Action<TResult, ErrorCode, string> refuse)
    {
        var admitted = new List<TItem>();
        var results = new List<TResult>();
        foreach (TEntry entry in entries)
        {
            TResult result = newResult();
            responseResults.Add(result);
            TItem item = parse(entry);
            string? why = Refusal(clusterAlterAllowed, entries.Count, invalid(item), out ErrorCode error);
            if (why is not null)
            {
                refuse(result, error, why);
                continue;
            }

            admitted.Add(item);
            results.Add(result);
        }

        return (admitted, results);
    }
}
