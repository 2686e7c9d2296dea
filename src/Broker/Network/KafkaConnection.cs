using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Channels;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Network;

/// <summary>
/// One client connection: a read loop that frames requests and starts them, and a write loop that
/// sends their responses strictly in request order, as Kafka requires, even while an earlier
/// request (a long-polling Fetch) is still parked.
/// </summary>
/// <remarks>
/// <para>Bounds: the 4-byte size prefix is checked against <see cref="BrokerOptions.MaxRequestBytes"/>
/// before any of the body is buffered; at most <see cref="BrokerOptions.MaxInFlightRequestsPerConnection"/>
/// requests are in flight (then the read loop stops reading: TCP back-pressure); the pipes are bounded
/// by their pause thresholds.</para>
/// <para>Errors: a malformed frame, an unknown API, an unsupported version (other than ApiVersions, which
/// gets the v0 fallback), or an idle timeout closes this connection only. Handler errors that concern a
/// partition are error codes in the response.</para>
/// </remarks>
internal sealed partial class KafkaConnection
{
    private readonly Socket _socket;
    private readonly RequestDispatcher _dispatcher;
    private readonly BrokerOptions _options;
    private readonly ILogger _logger;
    private readonly string _name;

    public KafkaConnection(Socket socket, RequestDispatcher dispatcher, BrokerOptions options, ILogger logger)
    {
        _socket = socket;
        _dispatcher = dispatcher;
        _options = options;
        _logger = logger;
        _name = socket.RemoteEndPoint?.ToString() ?? "unknown";
    }

    public async Task RunAsync(CancellationToken stopping)
    {
        await using var stream = new NetworkStream(_socket, ownsSocket: true);
        PipeReader input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024));
        PipeWriter output = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024));
        var inFlight = Channel.CreateBounded<Task<RequestContext>>(new BoundedChannelOptions(_options.MaxInFlightRequestsPerConnection)
        {
            SingleReader = true,
            SingleWriter = true,
        });

        using var closing = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        Task writer = WriteLoopAsync(output, inFlight.Reader, closing);
        try
        {
            await ReadLoopAsync(input, inFlight.Writer, closing.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // Peer went away, idle timeout, or shutdown: nothing to tell anyone.
        }
        finally
        {
            inFlight.Writer.TryComplete();
        }

        // Finish the requests already started (graceful shutdown answers them), then close.
        await writer.ConfigureAwait(false);
        await input.CompleteAsync().ConfigureAwait(false);
        await output.CompleteAsync().ConfigureAwait(false);
    }

    private async Task ReadLoopAsync(PipeReader input, ChannelWriter<Task<RequestContext>> inFlight, CancellationToken closing)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(closing);
        while (true)
        {
            idle.CancelAfter(_options.IdleTimeout);
            ReadResult result = await input.ReadAsync(idle.Token).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            string? error = null;
            try
            {
                while (TryReadFrame(ref buffer, out RequestContext? request, out error))
                {
                    if (request is null)
                    {
                        Log.ClosingConnection(_logger, _name, error!);
                        return;
                    }

                    Task<RequestContext> pending = _dispatcher.ProcessAsync(request);
                    if (!inFlight.TryWrite(pending))
                    {
                        try
                        {
                            await inFlight.WriteAsync(pending, closing).ConfigureAwait(false);
                        }
                        catch
                        {
                            // Closing: nobody will write this response, but its buffer and leases must go back.
                            _ = pending.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None,
                                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                            throw;
                        }
                    }
                }

                if (error is not null)
                {
                    Log.ClosingConnection(_logger, _name, error);
                    return;
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
            finally
            {
                input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
    }

    /// <summary>
    /// Takes one whole frame off <paramref name="buffer"/> into a pooled array. False when more bytes
    /// are needed, or (with <paramref name="error"/> set) when the connection must be closed.
    /// </summary>
    private bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out RequestContext? request, out string? error)
    {
        request = null;
        error = null;
        if (buffer.Length < 4)
        {
            return false;
        }

        Span<byte> prefix = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(prefix);
        int size = BinaryPrimitives.ReadInt32BigEndian(prefix);
        if (size < 8 || size > _options.MaxRequestBytes)
        {
            error = $"request size {size} is outside 8..{_options.MaxRequestBytes}";
            return false;
        }

        if (buffer.Length - 4 < size)
        {
            return false;
        }

        byte[] frame = ArrayPool<byte>.Shared.Rent(size);
        buffer.Slice(4, size).CopyTo(frame);
        buffer = buffer.Slice(4 + size);

        var reader = new KafkaReader(frame.AsSpan(0, size));
        RequestHeader header = RequestHeader.ReadPrefix(ref reader);
        request = new RequestContext(frame, size, header, _name);
        return true;
    }

    private async Task WriteLoopAsync(PipeWriter output, ChannelReader<Task<RequestContext>> inFlight, CancellationTokenSource closing)
    {
        try
        {
            while (await inFlight.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                while (inFlight.TryRead(out Task<RequestContext>? pending))
                {
                    using RequestContext context = await pending.ConfigureAwait(false);
                    if (context.CloseReason is not null)
                    {
                        Log.ClosingConnection(_logger, _name, context.CloseReason);
                        await closing.CancelAsync().ConfigureAwait(false);
                        return;
                    }

                    if (context.Response is not null)
                    {
                        WriteResponse(output, context);
                    }
                }

                FlushResult flushed = await output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                if (flushed.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            await closing.CancelAsync().ConfigureAwait(false);
        }
        finally
        {
            // Whatever is still queued (the connection died) must give back its buffers and leases.
            while (inFlight.TryRead(out Task<RequestContext>? pending))
            {
                (await pending.ConfigureAwait(false)).Dispose();
            }
        }
    }

    private static void WriteResponse(PipeWriter output, RequestContext context)
    {
        var writer = new KafkaWriter(output);
        Span<byte> size = writer.Reserve(4);
        long start = writer.Written;
        ApiMessages.WriteResponseHeader(ref writer, context.ApiKey, context.ResponseVersion, context.Header.CorrelationId);
        context.Response!.Write(ref writer, context.ResponseVersion);
        BinaryPrimitives.WriteInt32BigEndian(size, checked((int)(writer.Written - start)));
        writer.Commit();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Closing connection {Connection}: {Reason}")]
        public static partial void ClosingConnection(ILogger logger, string connection, string reason);
    }
}
