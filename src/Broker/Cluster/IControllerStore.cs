namespace LogBroker.Broker.Cluster;

/// <summary>
/// The cluster's small view of its controller store (etcd): keys, revisions, transactions, leases and
/// watches. Everything the control plane records goes through this interface, so the etcd client's quirks
/// (reconnects, watch resume) live in one implementation and the controller logic is unit-tested against
/// <see cref="FakeControllerStore"/> with the same semantics.
/// </summary>
public interface IControllerStore : IAsyncDisposable
{
    /// <summary>The key's current value, or null when absent.</summary>
    Task<StoreKeyValue?> GetAsync(string key, CancellationToken cancellationToken);

    /// <summary>Every key starting with <paramref name="prefix"/>, in key order, with the store revision read at.</summary>
    Task<StoreRange> RangeAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Puts a value (attached to <paramref name="lease"/> when not 0); returns the store revision of the write.</summary>
    Task<long> PutAsync(string key, byte[] value, long lease, CancellationToken cancellationToken);

    /// <summary>
    /// Applies <paramref name="onSuccess"/> when every compare holds, else <paramref name="onFailure"/>,
    /// atomically. The fencing primitive: every controller write carries a compare on the controller key.
    /// </summary>
    Task<StoreTxnResult> TxnAsync(
        IReadOnlyList<StoreCompare> compares,
        IReadOnlyList<StoreOp> onSuccess,
        IReadOnlyList<StoreOp> onFailure,
        CancellationToken cancellationToken);

    /// <summary>Grants a lease of <paramref name="ttl"/> (whole seconds, at least 1); returns its id.</summary>
    Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>Renews the lease once; false when it has expired (its keys are gone).</summary>
    Task<bool> KeepAliveAsync(long lease, CancellationToken cancellationToken);

    /// <summary>Revokes the lease, deleting the keys attached to it.</summary>
    Task RevokeLeaseAsync(long lease, CancellationToken cancellationToken);

    /// <summary>
    /// Every change to keys under <paramref name="prefix"/> from <paramref name="fromRevision"/> on (inclusive),
    /// in revision order, across reconnects (the implementation resumes after the last revision it delivered).
    /// Throws <see cref="StoreCompactedException"/> when <paramref name="fromRevision"/> is compacted: the
    /// caller re-reads with <see cref="RangeAsync"/> and watches from that revision + 1.
    /// </summary>
    IAsyncEnumerable<StoreWatchEvent> WatchAsync(string prefix, long fromRevision, CancellationToken cancellationToken);
}

/// <summary>A key and its revisions, as etcd's mvccpb.KeyValue.</summary>
public sealed record StoreKeyValue(string Key, byte[] Value, long CreateRevision, long ModRevision, long Version, long Lease);

/// <summary>A prefix read and the store revision it was read at.</summary>
public sealed record StoreRange(IReadOnlyList<StoreKeyValue> Items, long Revision);

/// <summary>A transaction's outcome and the store revision after it.</summary>
public sealed record StoreTxnResult(bool Succeeded, long Revision);

/// <summary>What a compare looks at.</summary>
public enum StoreCompareTarget
{
    /// <summary>The revision of the key's last write (0 when absent).</summary>
    ModRevision,

    /// <summary>The revision that created the key (0 when absent).</summary>
    CreateRevision,

    /// <summary>The number of writes since creation (0 when absent).</summary>
    Version,

    /// <summary>The key's value (an absent key never equals a value).</summary>
    Value,
}

/// <summary>An equality compare of one key's target against <see cref="Number"/> or <see cref="Value"/>.</summary>
public sealed record StoreCompare(string Key, StoreCompareTarget Target, long Number, byte[]? Value = null)
{
    /// <summary>Holds when the key does not exist.</summary>
    public static StoreCompare Absent(string key) => new(key, StoreCompareTarget.CreateRevision, 0);

    /// <summary>Holds when the key was created at <paramref name="revision"/> (the same incarnation still exists).</summary>
    public static StoreCompare CreatedAt(string key, long revision) => new(key, StoreCompareTarget.CreateRevision, revision);

    /// <summary>Holds when the key was last written at <paramref name="revision"/> (0: absent).</summary>
    public static StoreCompare ModifiedAt(string key, long revision) => new(key, StoreCompareTarget.ModRevision, revision);

    /// <summary>Holds when the key's value equals <paramref name="value"/>.</summary>
    public static StoreCompare ValueIs(string key, byte[] value) => new(key, StoreCompareTarget.Value, 0, value);
}

/// <summary>A write inside a transaction.</summary>
public abstract record StoreOp
{
    private StoreOp()
    {
    }

    /// <summary>Puts a value, attached to a lease when not 0.</summary>
    public sealed record Put(string Key, byte[] Value, long Lease = 0) : StoreOp;

    /// <summary>Deletes one key.</summary>
    public sealed record Delete(string Key) : StoreOp;

    /// <summary>Deletes every key starting with the prefix.</summary>
    public sealed record DeletePrefix(string Prefix) : StoreOp;
}

/// <summary>One change seen by a watch: a put (the new value) or a delete (value empty).</summary>
public sealed record StoreWatchEvent(bool IsDelete, StoreKeyValue Kv);

/// <summary>The watched revision was compacted away: re-read, then watch from the read revision + 1.</summary>
public sealed class StoreCompactedException(long compactRevision)
    : Exception($"Watch revision compacted (compact revision {compactRevision}).")
{
    /// <summary>The store's compaction revision.</summary>
    public long CompactRevision { get; } = compactRevision;
}
