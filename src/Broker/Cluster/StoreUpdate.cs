namespace LogBroker.Broker.Cluster;

/// <summary>
/// What <see cref="StoreUpdate.UpdateAsync"/>'s decision makes of a key's current value: the answer, and the value to
/// write for it (null: write nothing, answer at once) with any compares the write needs besides the key's revision.
/// </summary>
internal readonly record struct StoreDecision<T>(T Result, byte[]? Next = null, IReadOnlyList<StoreCompare>? Compares = null);

/// <summary>
/// The one read-modify-write of a single key on the controller store: read it, decide, write the decision conditioned
/// on the revision read (a write made meanwhile fails the condition, so none is lost), and on a lost race read and
/// decide again, a bounded number of times.
/// </summary>
internal static class StoreUpdate
{
    /// <summary>
    /// Runs the update of <paramref name="key"/>: <paramref name="write"/> (null: a plain transaction) applies the
    /// compares and the put; after a lost race, <paramref name="lostRace"/> (null: always read again) may stop with
    /// its answer (e.g. a deposed controller). Answers <paramref name="exhausted"/> when every attempt lost.
    /// </summary>
    public static async Task<T> UpdateAsync<T>(
        this IControllerStore store,
        string key,
        int attempts,
        T exhausted,
        Func<StoreKeyValue?, StoreDecision<T>> decide,
        Func<IReadOnlyList<StoreCompare>, IReadOnlyList<StoreOp>, CancellationToken, Task<bool>>? write,
        Func<CancellationToken, Task<(bool Stop, T Result)>>? lostRace,
        CancellationToken cancellationToken)
    {
        for (int attempt = 0; attempt < attempts; attempt++)
        {
            StoreKeyValue? kv = await store.GetAsync(key, cancellationToken).ConfigureAwait(false);
            StoreDecision<T> decision = decide(kv);
            if (decision.Next is not { } next)
            {
                return decision.Result;
            }

            var compares = new List<StoreCompare>(1 + (decision.Compares?.Count ?? 0)) { StoreCompare.ModifiedAt(key, kv?.ModRevision ?? 0) };
            if (decision.Compares is not null)
            {
                compares.AddRange(decision.Compares);
            }

            StoreOp[] ops = [new StoreOp.Put(key, next)];
            bool written = write is null
                ? (await store.TxnAsync(compares, ops, [], cancellationToken).ConfigureAwait(false)).Succeeded
                : await write(compares, ops, cancellationToken).ConfigureAwait(false);
            if (written)
            {
                return decision.Result;
            }

            if (lostRace is not null && await lostRace(cancellationToken).ConfigureAwait(false) is { Stop: true } stop)
            {
                return stop.Result;
            }
        }

        return exhausted;
    }
}
