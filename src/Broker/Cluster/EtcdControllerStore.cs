using System.Runtime.CompilerServices;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// <see cref="IControllerStore"/> over etcd v3's gRPC API (the generated clients shipped in dotnet-etcd).
/// One channel per endpoint; an unavailable member moves the store to the next endpoint and the call is
/// retried a bounded number of times. Watches are opened here, not through dotnet-etcd's watch manager,
/// so that a broken stream is reopened from the revision after the last event delivered (the library's
/// own reconnect does not resume at a revision, which loses or repeats events).
/// </summary>
public sealed class EtcdControllerStore : IControllerStore
{
    private static readonly TimeSpan ReconnectDelay = TimeSpan.FromMilliseconds(200);
    private readonly GrpcChannel[] _channels;
    private readonly TimeSpan _callTimeout;
    private int _current;

    /// <summary>Connects (lazily) to the members at <paramref name="endpoints"/> ("http://host:port").</summary>
    public EtcdControllerStore(IReadOnlyList<string> endpoints, TimeSpan callTimeout)
    {
        if (endpoints.Count == 0)
        {
            throw new ArgumentException("At least one etcd endpoint is needed.", nameof(endpoints));
        }

        _channels = new GrpcChannel[endpoints.Count];
        for (var i = 0; i < endpoints.Count; i++)
        {
            var address = endpoints[i].Contains("://", StringComparison.Ordinal) ? endpoints[i] : "http://" + endpoints[i];
            _channels[i] = GrpcChannel.ForAddress(address);
        }

        _callTimeout = callTimeout;
    }

    /// <inheritdoc/>
    public async Task<StoreKeyValue?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var response = await CallAsync(
            c => new KV.KVClient(c).RangeAsync(new RangeRequest { Key = Bytes(key) }, Options(cancellationToken)).ResponseAsync,
            cancellationToken).ConfigureAwait(false);
        return response.Kvs.Count == 0 ? null : Convert(response.Kvs[0]);
    }

    /// <inheritdoc/>
    public async Task<StoreRange> RangeAsync(string prefix, CancellationToken cancellationToken)
    {
        var request = new RangeRequest { Key = Bytes(prefix), RangeEnd = PrefixEnd(prefix) };
        var response = await CallAsync(
            c => new KV.KVClient(c).RangeAsync(request, Options(cancellationToken)).ResponseAsync,
            cancellationToken).ConfigureAwait(false);
        var items = new List<StoreKeyValue>(response.Kvs.Count);
        foreach (var kv in response.Kvs)
        {
            items.Add(Convert(kv));
        }

        return new StoreRange(items, response.Header.Revision);
    }

    /// <inheritdoc/>
    public async Task<long> PutAsync(string key, byte[] value, long lease, CancellationToken cancellationToken)
    {
        var request = new PutRequest { Key = Bytes(key), Value = ByteString.CopyFrom(value), Lease = lease };
        var response = await CallAsync(
            c => new KV.KVClient(c).PutAsync(request, Options(cancellationToken)).ResponseAsync,
            cancellationToken).ConfigureAwait(false);
        return response.Header.Revision;
    }

    /// <inheritdoc/>
    public async Task<StoreTxnResult> TxnAsync(
        IReadOnlyList<StoreCompare> compares,
        IReadOnlyList<StoreOp> onSuccess,
        IReadOnlyList<StoreOp> onFailure,
        CancellationToken cancellationToken)
    {
        var request = new TxnRequest();
        foreach (var compare in compares)
        {
            request.Compare.Add(ToCompare(compare));
        }

        foreach (var op in onSuccess)
        {
            request.Success.Add(ToRequestOp(op));
        }

        foreach (var op in onFailure)
        {
            request.Failure.Add(ToRequestOp(op));
        }

        var response = await CallAsync(
            c => new KV.KVClient(c).TxnAsync(request, Options(cancellationToken)).ResponseAsync,
            cancellationToken).ConfigureAwait(false);
        return new StoreTxnResult(response.Succeeded, response.Header.Revision);
    }

    /// <inheritdoc/>
    public async Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken)
    {
        var request = new LeaseGrantRequest { TTL = Math.Max(1, (long)Math.Ceiling(ttl.TotalSeconds)) };
        var response = await CallAsync(
            c => new Lease.LeaseClient(c).LeaseGrantAsync(request, Options(cancellationToken)).ResponseAsync,
            cancellationToken).ConfigureAwait(false);
        return response.ID;
    }

    /// <inheritdoc/>
    public Task<bool> KeepAliveAsync(long lease, CancellationToken cancellationToken) =>
        CallAsync(
            async c =>
            {
                // One request per short-lived stream: nothing to resume when a member goes away.
                using var call = new Lease.LeaseClient(c).LeaseKeepAlive(Options(cancellationToken));
                await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = lease }, cancellationToken).ConfigureAwait(false);
                await call.RequestStream.CompleteAsync().ConfigureAwait(false);
                return await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false)
                    && call.ResponseStream.Current.TTL > 0;
            },
            cancellationToken);

    /// <inheritdoc/>
    public async Task RevokeLeaseAsync(long lease, CancellationToken cancellationToken)
    {
        try
        {
            await CallAsync(
                c => new Lease.LeaseClient(c).LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease }, Options(cancellationToken)).ResponseAsync,
                cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            // Already expired: the outcome asked for.
        }
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<StoreWatchEvent> WatchAsync(
        string prefix, long fromRevision, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var next = fromRevision;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var channel = _channels[Volatile.Read(ref _current) % _channels.Length];
            using var call = new Watch.WatchClient(channel).Watch(cancellationToken: cancellationToken);
            var broken = false;
            try
            {
                await call.RequestStream.WriteAsync(
                    new WatchRequest
                    {
                        CreateRequest = new WatchCreateRequest { Key = Bytes(prefix), RangeEnd = PrefixEnd(prefix), StartRevision = next },
                    },
                    cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException) when (!cancellationToken.IsCancellationRequested)
            {
                broken = true;
            }

            while (!broken)
            {
                WatchResponse response;
                try
                {
                    if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                    {
                        break;
                    }

                    response = call.ResponseStream.Current;
                }
                catch (RpcException) when (!cancellationToken.IsCancellationRequested)
                {
                    break;
                }

                if (response.CompactRevision > 0 && response.Canceled)
                {
                    throw new StoreCompactedException(response.CompactRevision);
                }

                foreach (var e in response.Events)
                {
                    next = e.Kv.ModRevision + 1;
                    yield return new StoreWatchEvent(e.Type == Mvccpb.Event.Types.EventType.Delete, Convert(e.Kv));
                }
            }

            // The stream ended or broke: try the next member, resuming after the last delivered revision.
            Rotate(channel);
            await Task.Delay(ReconnectDelay, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private static ByteString Bytes(string s) => ByteString.CopyFromUtf8(s);

    // etcd's prefix range end: the prefix with its last byte incremented (bytes 0xff carried away).
    private static ByteString PrefixEnd(string prefix)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(prefix);
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            if (bytes[i] < 0xff)
            {
                bytes[i]++;
                return ByteString.CopyFrom(bytes, 0, i + 1);
            }
        }

        return ByteString.CopyFrom(0);
    }

    private static StoreKeyValue Convert(Mvccpb.KeyValue kv) =>
        new(kv.Key.ToStringUtf8(), kv.Value.ToByteArray(), kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease);

    private static Compare ToCompare(StoreCompare c)
    {
        var compare = new Compare { Key = Bytes(c.Key), Result = Compare.Types.CompareResult.Equal };
        switch (c.Target)
        {
            case StoreCompareTarget.ModRevision:
                compare.Target = Compare.Types.CompareTarget.Mod;
                compare.ModRevision = c.Number;
                break;
            case StoreCompareTarget.CreateRevision:
                compare.Target = Compare.Types.CompareTarget.Create;
                compare.CreateRevision = c.Number;
                break;
            case StoreCompareTarget.Version:
                compare.Target = Compare.Types.CompareTarget.Version;
                compare.Version = c.Number;
                break;
            default:
                compare.Target = Compare.Types.CompareTarget.Value;
                compare.Value = ByteString.CopyFrom(c.Value ?? []);
                break;
        }

        return compare;
    }

    private static RequestOp ToRequestOp(StoreOp op) => op switch
    {
        StoreOp.Put put => new RequestOp { RequestPut = new PutRequest { Key = Bytes(put.Key), Value = ByteString.CopyFrom(put.Value), Lease = put.Lease } },
        StoreOp.Delete delete => new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = Bytes(delete.Key) } },
        StoreOp.DeletePrefix prefix => new RequestOp
        {
            RequestDeleteRange = new DeleteRangeRequest { Key = Bytes(prefix.Prefix), RangeEnd = PrefixEnd(prefix.Prefix) },
        },
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    private CallOptions Options(CancellationToken cancellationToken) =>
        new(deadline: DateTime.UtcNow + _callTimeout, cancellationToken: cancellationToken);

    // Unary calls: an unavailable member or a deadline moves to the next one; each member is tried twice at most.
    private async Task<T> CallAsync<T>(Func<GrpcChannel, Task<T>> call, CancellationToken cancellationToken)
    {
        var attempts = _channels.Length * 2;
        for (var attempt = 1; ; attempt++)
        {
            var channel = _channels[Volatile.Read(ref _current) % _channels.Length];
            try
            {
                return await call(channel).ConfigureAwait(false);
            }
            catch (RpcException e) when (e.Status.Detail.Contains("lease not found", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException(e.Status.Detail, e);
            }
            catch (RpcException e) when (attempt < attempts && !cancellationToken.IsCancellationRequested
                && e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal)
            {
                Rotate(channel);
                await Task.Delay(ReconnectDelay, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private void Rotate(GrpcChannel failed)
    {
        var index = Array.IndexOf(_channels, failed);
        Interlocked.CompareExchange(ref _current, (index + 1) % _channels.Length, index);
    }
}
