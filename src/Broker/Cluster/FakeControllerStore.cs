using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// An in-memory controller store with etcd's semantics (one global revision bumped by every write, create and
/// mod revisions, versions, leases that delete their keys on expiry, watches replayed from any revision not
/// compacted). For unit tests of the control plane; the contract tests hold it and etcd to the same behaviour.
/// Lease expiry follows <see cref="TimeProvider"/>, so tests advance a fake clock instead of sleeping.
/// </summary>
public sealed class FakeControllerStore(TimeProvider time) : IControllerStore
{
    private readonly Lock _gate = new();
    private readonly SortedDictionary<string, StoreKeyValue> _keys = new(StringComparer.Ordinal);
    private readonly Dictionary<long, Lease> _leases = [];
    private readonly List<(long Revision, StoreWatchEvent Event)> _history = [];
    private readonly List<(string Prefix, Channel<StoreWatchEvent> Channel)> _watchers = [];
    private long _revision = 1;
    private long _compacted;
    private long _nextLease = 0x1000;

    /// <summary>A store on the system clock.</summary>
    public FakeControllerStore()
        : this(TimeProvider.System)
    {
    }

    /// <summary>Drops history up to <paramref name="revision"/>: a watch from at or below it throws.</summary>
    public void Compact(long revision)
    {
        lock (_gate)
        {
            _compacted = Math.Max(_compacted, revision);
            _history.RemoveAll(h => h.Revision <= revision);
        }
    }

    /// <inheritdoc/>
    public Task<StoreKeyValue?> GetAsync(string key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            ExpireDue();
            return Task.FromResult(_keys.GetValueOrDefault(key));
        }
    }

    /// <inheritdoc/>
    public Task<StoreRange> RangeAsync(string prefix, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            ExpireDue();
            var items = new List<StoreKeyValue>();
            foreach (var kv in _keys.Values)
            {
                if (kv.Key.StartsWith(prefix, StringComparison.Ordinal))
                {
                    items.Add(kv);
                }
            }

            return Task.FromResult(new StoreRange(items, _revision));
        }
    }

    /// <inheritdoc/>
    public async Task<long> PutAsync(string key, byte[] value, long lease, CancellationToken cancellationToken)
    {
        var result = await TxnAsync([], [new StoreOp.Put(key, value, lease)], [], cancellationToken).ConfigureAwait(false);
        return result.Revision;
    }

    /// <inheritdoc/>
    public Task<StoreTxnResult> TxnAsync(
        IReadOnlyList<StoreCompare> compares,
        IReadOnlyList<StoreOp> onSuccess,
        IReadOnlyList<StoreOp> onFailure,
        CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            ExpireDue();
            var ok = true;
            foreach (var compare in compares)
            {
                ok &= Holds(compare);
            }

            var ops = ok ? onSuccess : onFailure;
            foreach (var op in ops)
            {
                if (op is StoreOp.Put put && put.Lease != 0 && !_leases.ContainsKey(put.Lease))
                {
                    throw new InvalidOperationException($"Lease {put.Lease} not found.");
                }
            }

            var changed = false;
            var next = _revision + 1;
            foreach (var op in ops)
            {
                changed |= Apply(op, next);
            }

            if (changed)
            {
                _revision = next;
            }

            return Task.FromResult(new StoreTxnResult(ok, _revision));
        }
    }

    /// <inheritdoc/>
    public Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var seconds = Math.Max(1, (long)Math.Ceiling(ttl.TotalSeconds));
            var id = _nextLease++;
            _leases[id] = new Lease(TimeSpan.FromSeconds(seconds), time.GetUtcNow() + TimeSpan.FromSeconds(seconds));
            return Task.FromResult(id);
        }
    }

    /// <inheritdoc/>
    public Task<bool> KeepAliveAsync(long lease, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            ExpireDue();
            if (!_leases.TryGetValue(lease, out var l))
            {
                return Task.FromResult(false);
            }

            _leases[lease] = l with { Deadline = time.GetUtcNow() + l.Ttl };
            return Task.FromResult(true);
        }
    }

    /// <inheritdoc/>
    public Task RevokeLeaseAsync(long lease, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            RemoveLease(lease);
            return Task.CompletedTask;
        }
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<StoreWatchEvent> WatchAsync(
        string prefix, long fromRevision, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateUnbounded<StoreWatchEvent>();
        lock (_gate)
        {
            if (fromRevision <= _compacted)
            {
                throw new StoreCompactedException(_compacted);
            }

            foreach (var (revision, e) in _history)
            {
                if (revision >= fromRevision && e.Kv.Key.StartsWith(prefix, StringComparison.Ordinal))
                {
                    channel.Writer.TryWrite(e);
                }
            }

            _watchers.Add((prefix, channel));
        }

        try
        {
            while (true)
            {
                yield return await channel.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            lock (_gate)
            {
                _watchers.RemoveAll(w => w.Channel == channel);
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private bool Holds(StoreCompare compare)
    {
        var found = _keys.TryGetValue(compare.Key, out var kv);
        return compare.Target switch
        {
            StoreCompareTarget.ModRevision => (found ? kv!.ModRevision : 0) == compare.Number,
            StoreCompareTarget.CreateRevision => (found ? kv!.CreateRevision : 0) == compare.Number,
            StoreCompareTarget.Version => (found ? kv!.Version : 0) == compare.Number,
            _ => found && compare.Value is not null && kv!.Value.AsSpan().SequenceEqual(compare.Value),
        };
    }

    private bool Apply(StoreOp op, long revision)
    {
        switch (op)
        {
            case StoreOp.Put put:
                var existing = _keys.GetValueOrDefault(put.Key);
                var kv = new StoreKeyValue(
                    put.Key, put.Value, existing?.CreateRevision ?? revision, revision, (existing?.Version ?? 0) + 1, put.Lease);
                _keys[put.Key] = kv;
                Publish(revision, new StoreWatchEvent(false, kv));
                return true;
            case StoreOp.Delete delete:
                return DeleteKey(delete.Key, revision);
            case StoreOp.DeletePrefix prefix:
                var doomed = new List<string>();
                foreach (var key in _keys.Keys)
                {
                    if (key.StartsWith(prefix.Prefix, StringComparison.Ordinal))
                    {
                        doomed.Add(key);
                    }
                }

                foreach (var key in doomed)
                {
                    DeleteKey(key, revision);
                }

                return doomed.Count > 0;
            default:
                return false;
        }
    }

    private bool DeleteKey(string key, long revision)
    {
        if (!_keys.Remove(key, out var old))
        {
            return false;
        }

        Publish(revision, new StoreWatchEvent(true, old with { Value = [], ModRevision = revision, Version = 0 }));
        return true;
    }

    private void Publish(long revision, StoreWatchEvent e)
    {
        _history.Add((revision, e));
        foreach (var (prefix, channel) in _watchers)
        {
            if (e.Kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            {
                channel.Writer.TryWrite(e);
            }
        }
    }

    private void ExpireDue()
    {
        var now = time.GetUtcNow();
        List<long>? expired = null;
        foreach (var (id, lease) in _leases)
        {
            if (lease.Deadline <= now)
            {
                (expired ??= []).Add(id);
            }
        }

        if (expired is not null)
        {
            foreach (var id in expired)
            {
                RemoveLease(id);
            }
        }
    }

    private void RemoveLease(long lease)
    {
        if (!_leases.Remove(lease))
        {
            return;
        }

        var doomed = new List<string>();
        foreach (var kv in _keys.Values)
        {
            if (kv.Lease == lease)
            {
                doomed.Add(kv.Key);
            }
        }

        if (doomed.Count == 0)
        {
            return;
        }

        var next = _revision + 1;
        foreach (var key in doomed)
        {
            DeleteKey(key, next);
        }

        _revision = next;
    }

    private sealed record Lease(TimeSpan Ttl, DateTimeOffset Deadline);
}
