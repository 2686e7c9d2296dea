using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using Microsoft.Extensions.Logging;

namespace LogBroker.Client.Network;

/// <summary>
/// One TCP connection to one broker: requests are pipelined (up to an in-flight limit) and matched to
/// responses in order, as Kafka answers a connection's requests in the order they were sent. A request
/// that times out, a malformed response or a socket error closes the connection and fails everything in
/// flight on it; the owner reconnects.
/// </summary>
internal sealed partial class BrokerConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly SemaphoreSlim _inFlight;
    private readonly Queue<Pending> _pending = new();
    private readonly Lock _pendingLock = new();
    private readonly CancellationTokenSource _closed = new();
    private readonly TimeSpan _requestTimeout;
    private readonly int _maxResponseBytes;
    private readonly string _clientId;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Task _readLoop;
    private readonly PooledBufferWriter _requestBuffer = new(4096);
    private short[] _maxVersions = [];
    private short[] _minVersions = [];
    private int _correlationId;
    private Exception? _failure;

    // Until when (a TimeProvider timestamp) nothing is sent: the broker asked for a throttle (KIP-219); 0 when never.
    private long _throttledUntil;

    private BrokerConnection(Socket socket, Stream stream, string endpoint, int nodeId, ConnectionSettings settings, ILogger logger)
    {
        _socket = socket;
        _stream = stream;
        Endpoint = endpoint;
        NodeId = nodeId;
        _requestTimeout = settings.RequestTimeout;
        _maxResponseBytes = settings.MaxResponseBytes;
        _clientId = settings.ClientId;
        _inFlight = new SemaphoreSlim(settings.MaxInFlight, settings.MaxInFlight);
        _logger = logger;
        _time = settings.TimeProvider;
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>host:port of the broker.</summary>
    public string Endpoint { get; }

    /// <summary>The broker's node id, or -1 for a bootstrap connection whose id is not known yet.</summary>
    public int NodeId { get; }

    /// <summary>False once the connection failed or was disposed.</summary>
    public bool IsAlive => _failure is null && !_closed.IsCancellationRequested && (_reauthenticateAt == 0 || Environment.TickCount64 < _reauthenticateAt);

    /// <summary>
    /// KIP-368: when the broker gave a SASL session lifetime, the connection stops taking new requests at 85%
    /// of it (the owner then opens a fresh, authenticated one) and closes once its last response is in.
    /// </summary>
    private long _reauthenticateAt;

    /// <summary>Connects, then negotiates API versions (ApiVersions v3, falling back to v0).</summary>
    public static async Task<BrokerConnection> ConnectAsync(string host, int port, int nodeId, ConnectionSettings settings, ILogger logger, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.ConnectTimeout);
        try
        {
            await socket.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            socket.Dispose();
            if (e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new KafkaException(ErrorCode.NetworkException, $"Connecting to {host}:{port} timed out after {settings.ConnectTimeout.TotalMilliseconds:0} ms.");
            }

            if (e is SocketException se)
            {
                throw new KafkaException(ErrorCode.NetworkException, $"Cannot connect to {host}:{port}: {se.Message}", se);
            }

            throw;
        }

        Stream stream = new NetworkStream(socket, ownsSocket: true);
        ClientSecurity? security = settings.Security;
        if (security is { UseTls: true })
        {
            using var handshake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            handshake.CancelAfter(settings.ConnectTimeout);
            try
            {
                stream = await security.WrapAsync(stream, host, handshake.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                throw new KafkaException(ErrorCode.NetworkException, $"The TLS handshake with {host}:{port} timed out after {settings.ConnectTimeout.TotalMilliseconds:0} ms.");
            }
            catch
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        var connection = new BrokerConnection(socket, stream, $"{host}:{port}", nodeId, settings, logger);
        try
        {
            await connection.NegotiateVersionsAsync(cancellationToken).ConfigureAwait(false);
            if (security is { UseSasl: true })
            {
                long lifetime = await security.AuthenticateAsync(connection, cancellationToken).ConfigureAwait(false);
                if (lifetime > 0)
                {
                    connection._reauthenticateAt = Environment.TickCount64 + Math.Max(1, lifetime * 85 / 100);
                }
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task NegotiateVersionsAsync(CancellationToken cancellationToken)
    {
        var request = new ApiVersionsRequest { ClientSoftwareName = "logbroker-dotnet", ClientSoftwareVersion = "0.1.0" };
        ApiVersionsResponse response = await SendAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, request, cancellationToken).ConfigureAwait(false);
        if ((ErrorCode)response.ErrorCode == ErrorCode.UnsupportedVersion)
        {
            // The broker answered in v0 with the versions it supports; ask again in one it knows.
            short fallback = 0;
            foreach (ApiVersionsResponse.ApiVersion v in response.ApiKeys)
            {
                if (v.ApiKey == (short)ApiKey.ApiVersions)
                {
                    fallback = Math.Min(v.MaxVersion, (short)2);
                }
            }

            response = await SendAsync<ApiVersionsResponse>(ApiKey.ApiVersions, fallback, new ApiVersionsRequest(), cancellationToken).ConfigureAwait(false);
        }

        if (response.ErrorCode != 0)
        {
            throw new KafkaException((ErrorCode)response.ErrorCode, $"ApiVersions to {Endpoint} failed: {(ErrorCode)response.ErrorCode}.");
        }

        int max = 0;
        foreach (ApiVersionsResponse.ApiVersion v in response.ApiKeys)
        {
            max = Math.Max(max, v.ApiKey + 1);
        }

        short[] mins = new short[Math.Min(max, 1024)];
        short[] maxs = new short[mins.Length];
        Array.Fill(maxs, (short)-1);
        foreach (ApiVersionsResponse.ApiVersion v in response.ApiKeys)
        {
            if (v.ApiKey >= 0 && v.ApiKey < mins.Length)
            {
                mins[v.ApiKey] = v.MinVersion;
                maxs[v.ApiKey] = v.MaxVersion;
            }
        }

        _minVersions = mins;
        _maxVersions = maxs;
    }

    /// <summary>
    /// The highest version both sides support for <paramref name="key"/> within the client's range, or -1
    /// when there is none.
    /// </summary>
    public short Version(ApiKey key)
    {
        (short clientMin, short clientMax) = ClientVersions.Range(key);
        int k = (int)key;
        if (k >= _maxVersions.Length || _maxVersions[k] < 0)
        {
            return -1;
        }

        short v = Math.Min(clientMax, _maxVersions[k]);
        return v < Math.Max(clientMin, _minVersions[k]) ? (short)-1 : v;
    }

    /// <summary>The broker's highest version of <paramref name="key"/>, or -1 when it has none (SASL, whose versions the client picks itself).</summary>
    public short BrokerMaxVersion(ApiKey key) => (int)key < _maxVersions.Length ? _maxVersions[(int)key] : (short)-1;

    /// <summary>Like <see cref="Version"/>, but throws a clear error when there is no common version.</summary>
    public short RequireVersion(ApiKey key)
    {
        short v = Version(key);
        return v >= 0 ? v : throw new KafkaException(ErrorCode.UnsupportedVersion, $"The broker at {Endpoint} supports no version of {key} this client speaks.");
    }

    /// <summary>Sends a request and parses its response.</summary>
    public async Task<TResponse> SendAsync<TResponse>(ApiKey key, short version, IKafkaMessage request, CancellationToken cancellationToken, TimeSpan? timeout = null)
        where TResponse : IKafkaMessage, new()
    {
        using ResponseFrame frame = await SendRawAsync(key, version, request, cancellationToken, timeout).ConfigureAwait(false);
        return frame.Parse<TResponse>();
    }

    /// <summary>
    /// Sends a request and returns the raw response frame (the caller disposes it). For responses whose
    /// byte fields should stay slices of the frame (Fetch).
    /// </summary>
    public async Task<ResponseFrame> SendRawAsync(ApiKey key, short version, IKafkaMessage request, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        TimeSpan limit = timeout ?? _requestTimeout;
        DateTimeOffset now = _time.GetUtcNow();
        var pending = new Pending(key, version, expectsResponse: true, now) { Deadline = now + limit };
        await SendCoreAsync(pending, request, cancellationToken).ConfigureAwait(false);
        using CancellationTokenRegistration registration = cancellationToken.UnsafeRegister(static (state, token) =>
            ((Pending)state!).Completion.TrySetCanceled(token), pending);
        using ITimer timer = _time.CreateTimer(static state => ((BrokerConnection)state!).TimedOut(), this, limit, Timeout.InfiniteTimeSpan);
        try
        {
            // The timer fails the connection when the oldest request is overdue; the extra wait here is a
            // backstop so that no request can outlive its deadline, whatever state the connection is in.
            return await pending.Completion.Task.WaitAsync(limit + TimeSpan.FromSeconds(1), _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            var overdue = new KafkaException(ErrorCode.RequestTimedOut, $"{key} to {Endpoint} got no response within {limit.TotalMilliseconds:0} ms.");
            Fail(overdue);
            throw overdue;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The response (if any) is still in the connection's order; it is discarded when it arrives.
            throw;
        }
    }

    /// <summary>Sends a request that gets no response (Produce with acks=0).</summary>
    public async Task SendOneWayAsync(ApiKey key, short version, IKafkaMessage request, CancellationToken cancellationToken)
    {
        var pending = new Pending(key, version, expectsResponse: false, _time.GetUtcNow());
        await SendCoreAsync(pending, request, cancellationToken).ConfigureAwait(false);
    }

    private async Task SendCoreAsync(Pending pending, IKafkaMessage request, CancellationToken cancellationToken)
    {
        ThrowIfFailed();
        await _inFlight.WaitAsync(cancellationToken).ConfigureAwait(false);
        bool released = false;
        try
        {
            await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await WaitOutThrottleAsync(cancellationToken).ConfigureAwait(false);
                ThrowIfFailed();
                int correlationId = ++_correlationId;
                pending.CorrelationId = correlationId;
                _requestBuffer.Clear();
                Span<byte> size = _requestBuffer.GetSpan(4);
                _requestBuffer.Advance(4);
                var writer = new KafkaWriter(_requestBuffer);
                new RequestHeader((short)pending.Key, pending.Version, correlationId, _clientId).Write(ref writer);
                request.Write(ref writer, pending.Version);
                writer.Commit();
                BinaryPrimitives.WriteInt32BigEndian(_requestBuffer.WrittenSpan, _requestBuffer.WrittenCount - 4);
                if (pending.ExpectsResponse)
                {
                    lock (_pendingLock)
                    {
                        _pending.Enqueue(pending);
                    }
                }
                else
                {
                    released = true;
                    _inFlight.Release();
                }

                try
                {
                    await _stream.WriteAsync(_requestBuffer.WrittenMemory, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
                {
                    Fail(new KafkaException(ErrorCode.NetworkException, $"Sending {pending.Key} to {Endpoint} failed: {e.Message}", e));
                    throw _failure!;
                }

                _requestBuffer.ShrinkIfLarge();
            }
            finally
            {
                _writeLock.Release();
            }
        }
        catch
        {
            if (!released && !pending.ExpectsResponse)
            {
                _inFlight.Release();
            }

            throw;
        }
    }

    /// <summary>Sends nothing for <paramref name="throttleMs"/> from now (or longer, when already held back longer).</summary>
    private void HoldBack(int throttleMs)
    {
        long until = _time.GetTimestamp() + (throttleMs * _time.TimestampFrequency / 1000);
        long seen = Volatile.Read(ref _throttledUntil);
        while (until > seen)
        {
            long was = Interlocked.CompareExchange(ref _throttledUntil, until, seen);
            if (was == seen)
            {
                return;
            }

            seen = was;
        }
    }

    /// <summary>Waits (holding the write lock, so requests keep their order) until the broker's throttle is over.</summary>
    private async ValueTask WaitOutThrottleAsync(CancellationToken cancellationToken)
    {
        // Bounded: each pass waits out what is left, and a response extends the window only by a throttle the
        // broker bounds itself (Kafka: the whole quota window).
        for (int pass = 0; pass < 1000; pass++)
        {
            long left = Volatile.Read(ref _throttledUntil) - _time.GetTimestamp();
            if (left <= 0)
            {
                break;
            }

            await Task.Delay(TimeSpan.FromSeconds((double)left / _time.TimestampFrequency), _time, cancellationToken).ConfigureAwait(false);
        }

    }

    private void ThrowIfFailed()
    {
        if (_failure is not null)
        {
            throw _failure;
        }

        ObjectDisposedException.ThrowIf(_closed.IsCancellationRequested, this);
    }

    private void TimedOut()
    {
        Pending? oldest;
        lock (_pendingLock)
        {
            _pending.TryPeek(out oldest);
        }

        // Only the oldest can be overdue when the connection is healthy; any overdue request means the
        // order is lost for good, so the whole connection goes (as the Java client and librdkafka do).
        if (oldest is not null && oldest.Deadline <= _time.GetUtcNow() + TimeSpan.FromMilliseconds(5))
        {
            Fail(new KafkaException(ErrorCode.RequestTimedOut, $"{oldest.Key} to {Endpoint} got no response within {(oldest.Deadline - oldest.SentAt).TotalMilliseconds:0} ms."));
        }
    }

    private async Task ReadLoopAsync()
    {
        byte[] sizeBuffer = new byte[4];
        try
        {
            while (!_closed.IsCancellationRequested)
            {
                await _stream.ReadExactlyAsync(sizeBuffer, _closed.Token).ConfigureAwait(false);
                int size = BinaryPrimitives.ReadInt32BigEndian(sizeBuffer);
                if (size < 4 || size > _maxResponseBytes)
                {
                    throw new KafkaException(ErrorCode.CorruptMessage, $"{Endpoint} sent a response of {size} bytes (limit {_maxResponseBytes}).");
                }

                byte[] buffer = ArrayPool<byte>.Shared.Rent(size);
                var frame = new ResponseFrame(buffer, size);
                try
                {
                    await _stream.ReadExactlyAsync(buffer.AsMemory(0, size), _closed.Token).ConfigureAwait(false);
                }
                catch
                {
                    frame.Dispose();
                    throw;
                }

                Pending? pending;
                lock (_pendingLock)
                {
                    _pending.TryDequeue(out pending);
                }

                int correlationId = BinaryPrimitives.ReadInt32BigEndian(buffer);
                if (pending is null || pending.CorrelationId != correlationId)
                {
                    frame.Dispose();
                    var mismatch = new KafkaException(ErrorCode.CorruptMessage, $"{Endpoint} answered correlation id {correlationId}, expected {pending?.CorrelationId.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}.");
                    pending?.Completion.TrySetException(mismatch); // already dequeued: Fail below cannot reach it
                    throw mismatch;
                }

                frame.SetBody(ApiMessages.ResponseHeaderHasTaggedFields(pending.Key, pending.Version), pending.Key, pending.Version);
                int throttleMs = ResponseThrottle.Of(pending.Key, pending.Version, frame.Body.Span);
                if (throttleMs > 0)
                {
                    // Before the response is handed on, so no request of this connection can slip out inside the window.
                    // Bounded by the request timeout: a broker asking for more would time every request out anyway.
                    HoldBack((int)Math.Min(throttleMs, _requestTimeout.TotalMilliseconds));
                }

                _inFlight.Release();
                if (_reauthenticateAt != 0 && Environment.TickCount64 >= _reauthenticateAt)
                {
                    bool idle;
                    lock (_pendingLock)
                    {
                        idle = _pending.Count == 0;
                    }

                    if (idle)
                    {
                        // The SASL session is about to expire and nothing is in flight: close; the owner opens a fresh connection.
                        Fail(new KafkaException(ErrorCode.NetworkException, $"The SASL session with {Endpoint} is expiring (KIP-368); reconnecting."));
                    }
                }
                if (!pending.Completion.TrySetResult(frame))
                {
                    frame.Dispose(); // cancelled by the caller meanwhile
                }
            }
        }
        catch (Exception e)
        {
            Fail(e is KafkaException ke ? ke : new KafkaException(ErrorCode.NetworkException, $"Connection to {Endpoint} closed: {e.Message}", e));
        }
    }

    private void Fail(KafkaException error)
    {
        lock (_pendingLock)
        {
            if (_failure is not null)
            {
                return;
            }

            _failure = error;
            while (_pending.TryDequeue(out Pending? p))
            {
                p.Completion.TrySetException(error);
            }
        }

        if (!_closed.IsCancellationRequested)
        {
            LogConnectionFailed(_logger, Endpoint, error.Message);
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_closed.IsCancellationRequested)
        {
            return;
        }

        await _closed.CancelAsync().ConfigureAwait(false);
        Fail(new KafkaException(ErrorCode.NetworkException, $"Connection to {Endpoint} was closed by the client."));
        await _stream.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _readLoop.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
        }

        _requestBuffer.Dispose();
        _closed.Dispose();
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Connection to {Endpoint} failed: {Reason}")]
    private static partial void LogConnectionFailed(ILogger logger, string endpoint, string reason);

    private sealed class Pending(ApiKey key, short version, bool expectsResponse, DateTimeOffset sentAt)
    {
        public ApiKey Key { get; } = key;

        public short Version { get; } = version;

        public bool ExpectsResponse { get; } = expectsResponse;

        public int CorrelationId { get; set; }

        public DateTimeOffset SentAt { get; } = sentAt;

        public DateTimeOffset Deadline { get; init; } = DateTimeOffset.MaxValue;

        public TaskCompletionSource<ResponseFrame> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>Per-connection settings taken from the client's options.</summary>
internal sealed record ConnectionSettings(
    string ClientId,
    TimeSpan RequestTimeout,
    TimeSpan ConnectTimeout,
    int MaxInFlight,
    int MaxResponseBytes,
    TimeProvider TimeProvider)
{
    /// <summary>TLS and SASL (null: PLAINTEXT).</summary>
    public ClientSecurity? Security { get; init; }
}
