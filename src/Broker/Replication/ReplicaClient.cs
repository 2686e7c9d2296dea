using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Replication;

/// <summary>
/// One follower's connection to a leader broker's inter-broker listener (plaintext, TLS, SASL): a request, then its response, one at a time (the fetcher never
/// pipelines). Responses are bounded in size; a malformed or oversized one, a timeout or a closed socket throws and
/// the fetcher reconnects. The body of the last response stays valid until the next request (fetched records are
/// appended straight from it).
/// </summary>
internal sealed class ReplicaClient : IAsyncDisposable
{
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly Stream _stream;
    private readonly int _maxResponseBytes;
    private readonly string _clientId;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
    private int _correlationId;

    private ReplicaClient(Stream stream, int maxResponseBytes, string clientId)
    {
        _stream = stream;
        _maxResponseBytes = maxResponseBytes;
        _clientId = clientId;
    }

    /// <summary>The leader's endpoint.</summary>
    public string Endpoint { get; private init; } = "";

    /// <summary>
    /// When the leader's SASL session ends (KIP-368: it closes the connection then), less a margin; the fetcher
    /// reconnects before it. <see cref="long.MaxValue"/> when the session does not expire.
    /// </summary>
    public long ReconnectBy { get; private set; } = long.MaxValue;

    /// <summary>
    /// Connects to <paramref name="endpoint"/> as its security protocol asks: TLS (trusting <paramref name="security"/>'s
    /// CAs, with its client certificate), then SASL with its credentials.
    /// </summary>
    /// <exception cref="IOException">The connection, the TLS handshake or the authentication failed.</exception>
    public static async Task<ReplicaClient> ConnectAsync(
        BrokerEndpoint endpoint, InterBrokerSettings security, TimeProvider time, int maxResponseBytes, string clientId, CancellationToken cancellationToken)
    {
        bool tls = endpoint.SecurityProtocol is "SSL" or "SASL_SSL";
        bool sasl = endpoint.SecurityProtocol is "SASL_PLAINTEXT" or "SASL_SSL";
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream stream;
        try
        {
            await socket.ConnectAsync(endpoint.Host, endpoint.Port, cancellationToken).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        string name = $"{endpoint.Host}:{endpoint.Port} ({endpoint.Name}, {endpoint.SecurityProtocol})";
        if (tls)
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(HandshakeTimeout);
            try
            {
                var client = TlsClient.FromPem(security.CaFile, security.CertificateFile, security.KeyFile, security.KeyPassword, security.CheckHostName);
                stream = await client.AuthenticateAsync(stream, endpoint.Host, deadline.Token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // Whatever failed (the handshake, its timeout, an unreadable CA or key file), the socket goes, and the
                // fetcher sees an IOException: it logs it and tries again after its backoff.
                await stream.DisposeAsync().ConfigureAwait(false);
                if (e is OperationCanceledException && cancellationToken.IsCancellationRequested)
                {
                    throw;
                }

                throw new IOException($"TLS handshake with {name} failed: {e.Message}", e);
            }
        }

        var replica = new ReplicaClient(stream, maxResponseBytes, clientId) { Endpoint = name };
        if (!sasl)
        {
            return replica;
        }

        try
        {
            if (security.Username is null || security.Password is null)
            {
                throw new IOException($"{name} asks for SASL and Replication:InterBroker has no Username and Password.");
            }

            long started = time.GetTimestamp();
            SaslOutcome outcome = await SaslExchange.RunAsync(security.SaslMechanism.ToUpperInvariant(), security.Username, security.Password, name,
                (request, token) => replica.SendAsync<SaslHandshakeResponse>(ApiKey.SaslHandshake, 1, request, HandshakeTimeout, token),
                (request, token) => replica.SendAsync<SaslAuthenticateResponse>(ApiKey.SaslAuthenticate, 2, request, HandshakeTimeout, token),
                cancellationToken).ConfigureAwait(false);
            if (outcome.Error != ErrorCode.None)
            {
                throw new IOException(outcome.Message);
            }

            if (outcome.SessionLifetimeMs > 0)
            {
                // Reconnect at 90% of the session, as Kafka's clients re-authenticate by then.
                replica.ReconnectBy = started + (long)(outcome.SessionLifetimeMs * 0.9 * time.TimestampFrequency / 1000);
            }

            return replica;
        }
        catch
        {
            await replica.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Sends <paramref name="request"/> and parses its response (valid until the next call).</summary>
    /// <exception cref="IOException">The connection failed, or the response was malformed or too large.</exception>
    public async Task<TResponse> SendAsync<TResponse>(ApiKey key, short version, IKafkaMessage request, TimeSpan timeout, CancellationToken cancellationToken)
        where TResponse : IKafkaMessage, new()
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        int correlationId = ++_correlationId;
        var output = new ArrayBufferWriter<byte>(256);
        output.Advance(4); // the size, written below
        var writer = new KafkaWriter(output);
        new RequestHeader((short)key, version, correlationId, _clientId).Write(ref writer);
        request.Write(ref writer, version);
        writer.Commit();
        byte[] frame = output.WrittenSpan.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(frame, frame.Length - 4);
        try
        {
            await _stream.WriteAsync(frame, deadline.Token).ConfigureAwait(false);
            byte[] size = new byte[4];
            await _stream.ReadExactlyAsync(size, deadline.Token).ConfigureAwait(false);
            int length = BinaryPrimitives.ReadInt32BigEndian(size);
            if (length < 4 || length > _maxResponseBytes)
            {
                throw new IOException($"{Endpoint} sent a response of {length} bytes (limit {_maxResponseBytes}).");
            }

            if (_buffer.Length < length)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = ArrayPool<byte>.Shared.Rent(length);
            }

            await _stream.ReadExactlyAsync(_buffer.AsMemory(0, length), deadline.Token).ConfigureAwait(false);
            return Parse<TResponse>(key, version, correlationId, length);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"{Endpoint} did not answer {key} within {timeout.TotalMilliseconds} ms.");
        }
    }

    private TResponse Parse<TResponse>(ApiKey key, short version, int correlationId, int length)
        where TResponse : IKafkaMessage, new()
    {
        var reader = new KafkaReader(_buffer.AsMemory(0, length));
        if (reader.ReadInt32() != correlationId)
        {
            throw new IOException($"{Endpoint} answered out of order.");
        }

        if (ApiMessages.ResponseHeaderHasTaggedFields(key, version))
        {
            reader.SkipTaggedFields();
        }

        var response = new TResponse();
        response.Read(ref reader, version);
        if (reader.Failed)
        {
            throw new IOException($"{Endpoint} sent a malformed {key} response.");
        }

        return response;
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync().ConfigureAwait(false);
        byte[] buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
