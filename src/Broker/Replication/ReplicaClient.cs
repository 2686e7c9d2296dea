using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;

namespace LogBroker.Broker.Replication;

/// <summary>
/// One follower's connection to a leader broker: a request, then its response, one at a time (the fetcher never
/// pipelines). Responses are bounded in size; a malformed or oversized one, a timeout or a closed socket throws and
/// the fetcher reconnects. The body of the last response stays valid until the next request (fetched records are
/// appended straight from it).
/// </summary>
internal sealed class ReplicaClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly int _maxResponseBytes;
    private readonly string _clientId;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
    private int _correlationId;

    private ReplicaClient(Socket socket, int maxResponseBytes, string clientId)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _maxResponseBytes = maxResponseBytes;
        _clientId = clientId;
    }

    /// <summary>The leader's endpoint.</summary>
    public string Endpoint { get; private init; } = "";

    public static async Task<ReplicaClient> ConnectAsync(string host, int port, int maxResponseBytes, string clientId, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new ReplicaClient(socket, maxResponseBytes, clientId) { Endpoint = $"{host}:{port}" };
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
        _socket.Dispose();
        byte[] buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
