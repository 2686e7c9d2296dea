using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Channels;
using LogBroker.Broker.Handlers;
using LogBroker.Broker.Security;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Network;

/// <summary>
/// One client connection over a byte stream (a socket's <see cref="NetworkStream"/>, later TLS): a read
/// loop that frames requests and starts them, and a write loop that sends their responses strictly in
/// request order, as Kafka requires, even while an earlier request (a long-polling Fetch) is parked.
/// </summary>
/// <remarks>
/// <para>Bounds, per connection: the 4-byte size prefix is checked against
/// <see cref="BrokerOptions.MaxRequestBytes"/> before any of the body is buffered; a whole frame reserves
/// its size from the broker-wide <see cref="MemoryBudget"/> (<see cref="BrokerOptions.QueuedMaxRequestBytes"/>)
/// until its response is sent, and when the budget is spent the read loop stops reading, so beyond the
/// budget a connection holds at most the one frame it is receiving (costing what has arrived); at most
/// <see cref="BrokerOptions.MaxInFlightRequestsPerConnection"/> requests are in flight (then the read loop
/// stops reading: TCP back-pressure); the read side buffers at most one frame plus 64 KiB. Responses are
/// encoded into a <see cref="ResponseBuffer"/> (stored record batches are sent from the segments, not
/// copied) and sent once <see cref="BrokerOptions.MaxResponseBufferBytes"/> are buffered, when no further
/// response is ready, or before waiting on a parked one; a send that does not finish within
/// <see cref="BrokerOptions.WriteTimeout"/> closes the connection. A connection with no request for
/// <see cref="BrokerOptions.IdleTimeout"/> is closed, and a frame once begun must arrive whole within
/// <see cref="BrokerOptions.RequestReadTimeout"/>, so trickled bytes keep nothing open.</para>
/// <para>Errors: a malformed frame, an unknown API, an unsupported version (other than ApiVersions, which
/// gets the v0 fallback), a timeout, or a response that cannot be encoded closes this connection only;
/// every request it had started gives back its buffer, leases and budget. Handler errors that concern a
/// partition are error codes in the response.</para>
/// </remarks>
internal sealed partial class KafkaConnection
{
    private readonly Stream _transport;
    private readonly RequestDispatcher _dispatcher;
    private readonly BrokerOptions _options;
    private readonly MemoryBudget _budget;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly TimeProvider _time;
    private readonly ConnectionSession _session;

    // Until when (a TimeProvider timestamp) the read loop takes no request: a quota's throttle (KIP-219).
    // Written by the write loop once a throttled response is sent; 0 when never throttled.
    private long _mutedUntil;

    /// <summary>A connection; <paramref name="session"/> is its listener, principal and SASL state (null: anonymous PLAINTEXT).</summary>
    public KafkaConnection(Stream transport, string name, RequestDispatcher dispatcher, BrokerOptions options, MemoryBudget budget,
        TimeProvider time, ILogger logger, ConnectionSession? session = null)
    {
        _session = session ?? ConnectionSession.Plaintext(time);
        _transport = transport;
        _name = name;
        _dispatcher = dispatcher;
        _options = options;
        _budget = budget;
        _time = time;
        _logger = logger;
    }

    public async Task RunAsync(CancellationToken stopping)
    {
        PipeReader input = PipeReader.Create(_transport, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024, leaveOpen: true));
        var inFlight = Channel.CreateBounded<Task<RequestContext>>(new BoundedChannelOptions(_options.MaxInFlightRequestsPerConnection)
        {
            SingleReader = true,
            SingleWriter = true,
        });

        using var closing = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        Task writer = WriteLoopAsync(inFlight.Reader, closing);
        try
        {
            await ReadLoopAsync(input, inFlight.Writer, closing.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // Peer went away, a timeout, or shutdown: nothing to tell anyone.
        }
        finally
        {
            inFlight.Writer.TryComplete();

            // Parked requests stop waiting now; their answers go out if the peer still reads.
            await closing.CancelAsync().ConfigureAwait(false);
        }

        await writer.ConfigureAwait(false);
        await input.CompleteAsync().ConfigureAwait(false);
    }

    private async Task ReadLoopAsync(PipeReader input, ChannelWriter<Task<RequestContext>> inFlight, CancellationToken closing)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(closing);
        long reserved = 0;          // budget held for the whole frame at the head of the buffer, until it is taken off
        long frameStarted = -1;     // when the first byte of the frame being received arrived
        try
        {
            while (true)
            {
                if (Volatile.Read(ref _mutedUntil) != 0 && await WaitWhileMutedAsync(closing).ConfigureAwait(false) && frameStarted >= 0)
                {
                    frameStarted = _time.GetTimestamp(); // the time muted does not count against the peer's frame deadline
                }

                // Idle: no partial frame, so the idle timeout runs from now. Inside a frame, the frame's own
                // deadline runs from its first byte and is not moved by more bytes arriving.
                timer.CancelAfter(AuthenticationWait(frameStarted < 0 ? _options.IdleTimeout : Remaining(_options.RequestReadTimeout, frameStarted)));

                ReadResult result;
                try
                {
                    result = await input.ReadAsync(timer.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!closing.IsCancellationRequested)
                {
                    Log.ClosingConnection(_logger, _name, _session.AuthenticationDeadline != 0 && _time.GetTimestamp() >= _session.AuthenticationDeadline
                        ? "SASL authentication not completed in time"
                        : frameStarted < 0 ? "idle timeout" : "request not received in time");
                    return;
                }

                ReadOnlySequence<byte> buffer = result.Buffer;
                string? error = null;
                long needBudget = 0;
                bool muted = false;
                try
                {
                    while (true)
                    {
                        long mutedUntil = Volatile.Read(ref _mutedUntil);
                        if (mutedUntil != 0 && mutedUntil > _time.GetTimestamp())
                        {
                            muted = true; // a throttled response went out: frames already here wait too
                            break;
                        }

                        FrameStatus status = TryReadFrame(ref buffer, ref reserved, closing, out RequestContext? framed, out error, out needBudget);
                        if (status == FrameStatus.Complete)
                        {
                            frameStarted = -1;
                            RequestContext request = framed!;
                            bool raw = _session.RawTokens && _session.State == SaslState.Exchanging;
                            bool permitted = raw || _session.Permits(request.ApiKey);
                            if (!permitted)
                            {
                                // Before authentication (or after the session expired) only ApiVersions and SASL may run:
                                // anything else closes the connection, after what is queued before it.
                                request.CloseReason = _session.DenyReason(request.ApiKey);
                            }

                            Task<RequestContext> pending = !permitted ? Task.FromResult(request)
                                : raw ? Task.FromResult(RawStep(request))
                                : _dispatcher.ProcessAsync(request);
                            if (request.ThrottleMs > 0)
                            {
                                // Throttled while it was handled (a produce over its quota decides before any await):
                                // nothing more is read from now on, or a pipelining client (librdkafka keeps up to a
                                // million requests in flight) would have its whole queue accepted before the response
                                // that carries the throttle is written. The write loop restarts the mute when it is sent.
                                MuteFor(request.ThrottleMs);
                            }

                            if (!inFlight.TryWrite(pending))
                            {
                                try
                                {
                                    await inFlight.WriteAsync(pending, closing).ConfigureAwait(false);
                                }
                                catch
                                {
                                    // Closing: nobody will write this response, but its buffer, leases and budget must go back.
                                    _ = pending.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None,
                                        TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                                    throw;
                                }
                            }

                            if (!permitted || _session.CloseReason is not null)
                            {
                                // The answer (a SASL error) is queued; nothing after it is read.
                                Log.ClosingConnection(_logger, _name, _session.CloseReason ?? request.CloseReason!);
                                return;
                            }

                            continue;
                        }

                        break;
                    }

                    if (error is not null)
                    {
                        Log.ClosingConnection(_logger, _name, error);
                        return;
                    }

                    if (!buffer.IsEmpty && frameStarted < 0)
                    {
                        frameStarted = _time.GetTimestamp();
                    }

                    if (result.IsCompleted || result.IsCanceled)
                    {
                        return;
                    }
                }
                finally
                {
                    // Waiting for budget: nothing more is examined, so the next read returns what is here at once.
                    input.AdvanceTo(buffer.Start, needBudget > 0 || muted ? buffer.Start : buffer.End);
                }

                if (muted)
                {
                    continue; // the top of the loop waits out the mute
                }

                if (needBudget > 0)
                {
                    // Stop reading until the broker has room for this (whole) frame.
                    await _budget.ReserveAsync(needBudget, closing).ConfigureAwait(false);
                    reserved = needBudget;
                }
            }
        }
        finally
        {
            if (reserved > 0)
            {
                _budget.Release(reserved);
            }
        }
    }

    /// <summary>Mutes reading for <paramref name="throttleMs"/> from now, unless it is already muted for longer (read and write loops both mute).</summary>
    private void MuteFor(long throttleMs)
    {
        long until = _time.GetTimestamp() + (throttleMs * _time.TimestampFrequency / 1000);
        long seen = Volatile.Read(ref _mutedUntil);
        while (seen < until)
        {
            long found = Interlocked.CompareExchange(ref _mutedUntil, until, seen);
            if (found == seen)
            {
                return;
            }

            seen = found;
        }
    }

    /// <summary>Waits until <see cref="_mutedUntil"/> has passed; true when it waited at all.</summary>
    private async ValueTask<bool> WaitWhileMutedAsync(CancellationToken closing)
    {
        bool waited = false;

        // Bounded: each pass waits out what is left, and the write loop extends the mute only by a throttle
        // time, itself bounded (RateSensor).
        for (int pass = 0; pass < 1000; pass++)
        {
            long left = Volatile.Read(ref _mutedUntil) - _time.GetTimestamp();
            if (left <= 0)
            {
                break;
            }

            waited = true;
            await Task.Delay(TimeSpan.FromSeconds((double)left / _time.TimestampFrequency), _time, closing).ConfigureAwait(false);
        }

        return waited;
    }

    /// <summary>Shortens <paramref name="wait"/> to the SASL authentication deadline while one runs.</summary>
    private TimeSpan AuthenticationWait(TimeSpan wait)
    {
        if (_session.AuthenticationDeadline == 0)
        {
            return wait;
        }

        TimeSpan left = TimeSpan.FromSeconds((double)Math.Max(0, _session.AuthenticationDeadline - _time.GetTimestamp()) / _time.TimestampFrequency);
        return wait == Timeout.InfiniteTimeSpan || left < wait ? left : wait;
    }

    /// <summary>A raw SASL token (after SaslHandshake v0): one exchange step, answered with a raw size-prefixed token.</summary>
    private RequestContext RawStep(RequestContext token)
    {
        SaslStep step = SaslAuthenticateHandler.Step(_session, token.Frame.Span, _name, _logger);
        if (step.Kind == SaslStepKind.Failure)
        {
            token.CloseReason = "SASL authentication failed";
        }
        else
        {
            token.RawResponse = step.Response;
        }

        return token;
    }

    private TimeSpan Remaining(TimeSpan limit, long since)
    {
        if (limit == Timeout.InfiniteTimeSpan)
        {
            return limit;
        }

        TimeSpan left = limit - _time.GetElapsedTime(since);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    private enum FrameStatus
    {
        NeedMore,
        Complete,
        Close,
    }

    /// <summary>
    /// Takes one whole frame off <paramref name="buffer"/>, once its size is reserved from the budget
    /// (<paramref name="needBudget"/> is set when the caller must wait for that before reading on).
    /// </summary>
    private FrameStatus TryReadFrame(ref ReadOnlySequence<byte> buffer, ref long reserved, CancellationToken closing,
        out RequestContext? request, out string? error, out long needBudget)
    {
        request = null;
        error = null;
        needBudget = 0;
        if (buffer.Length < 4)
        {
            return FrameStatus.NeedMore;
        }

        Span<byte> prefix = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(prefix);
        int size = BinaryPrimitives.ReadInt32BigEndian(prefix);
        bool rawToken = _session.RawTokens && _session.State == SaslState.Exchanging;
        int maxSize = _session.HasAuthenticated || _session.State == SaslState.NotRequired ? _options.MaxRequestBytes
            : Math.Min(_options.MaxRequestBytes, rawToken ? SaslLimits.MaxTokenBytes : SaslLimits.MaxUnauthenticatedFrameBytes);
        int minSize = rawToken ? 0 : 8;
        if (size < minSize || size > maxSize)
        {
            error = $"request size {size} is outside {minSize}..{maxSize}";
            return FrameStatus.Close;
        }

        if (buffer.Length - 4 < size)
        {
            return FrameStatus.NeedMore;
        }

        if (reserved == 0)
        {
            // Reserved once the frame is whole: a frame announced and never sent costs only what arrived
            // (and its deadline), so announcements cannot take the budget from everyone else.
            long bytes = _budget.Clamp(size);
            if (!_budget.TryReserve(bytes))
            {
                needBudget = bytes;
                return FrameStatus.NeedMore;
            }

            reserved = bytes;
        }

        byte[] frame = RequestContext.RentFrame(size);
        buffer.Slice(4, size).CopyTo(frame);
        buffer = buffer.Slice(4 + size);

        var reader = new KafkaReader(frame.AsSpan(0, size));
        RequestHeader header = rawToken ? new RequestHeader((short)ApiKey.SaslAuthenticate, 0, 0, null) : RequestHeader.ReadPrefix(ref reader);
        request = new RequestContext(frame, size, header, _name) { Closing = closing, Session = _session };
        request.OwnReservation(_budget, reserved);
        reserved = 0;
        return FrameStatus.Complete;
    }

    private async Task WriteLoopAsync(ChannelReader<Task<RequestContext>> inFlight, CancellationTokenSource closing)
    {
        using var buffer = new ResponseBuffer { SendFile = _options.SendFile };
        using var sendTimer = new CancellationTokenSource();
        var sent = new List<RequestContext>();
        long throttleMs = 0;
        try
        {
            while (await inFlight.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                while (buffer.Length < _options.MaxResponseBufferBytes && inFlight.TryPeek(out Task<RequestContext>? pending))
                {
                    if (!pending.IsCompleted && buffer.Length > 0)
                    {
                        // The next response is not ready (a parked fetch): send what is, so that it does not wait too.
                        break;
                    }

                    inFlight.TryRead(out _);
                    RequestContext context = await pending.ConfigureAwait(false);
                    throttleMs = Math.Max(throttleMs, context.ThrottleMs);
                    if (context.CloseReason is not null)
                    {
                        context.Dispose();
                        await SendAsync(buffer, sendTimer, sent).ConfigureAwait(false);
                        Log.ClosingConnection(_logger, _name, context.CloseReason);
                        return;
                    }

                    bool encoded = TryEncode(buffer, context, out bool spliced);
                    if (spliced)
                    {
                        sent.Add(context); // its leases back bytes still to be sent
                    }
                    else
                    {
                        context.Dispose(); // copied (or nothing to send): its buffer, leases and budget go back now
                    }

                    if (!encoded)
                    {
                        await SendAsync(buffer, sendTimer, sent).ConfigureAwait(false);
                        return;
                    }
                }

                await SendAsync(buffer, sendTimer, sent).ConfigureAwait(false);
                if (throttleMs > 0)
                {
                    // KIP-219: the throttled response is sent at once, then the client's next requests wait.
                    MuteFor(throttleMs);
                    throttleMs = 0;
                }
            }
        }
        catch (OperationCanceledException) when (sendTimer.IsCancellationRequested)
        {
            Log.WriteTimedOut(_logger, _name, _options.WriteTimeout);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The peer went away.
        }
        catch (Exception e)
        {
            Log.WriteFailed(_logger, e, _name);
        }
        finally
        {
            await closing.CancelAsync().ConfigureAwait(false);
            foreach (RequestContext context in sent)
            {
                context.Dispose();
            }

            // Whatever is still queued (the connection is closing) must give back its buffers, leases and budget.
            // The read loop completes the channel once it has stopped, so this ends.
            while (await inFlight.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                while (inFlight.TryRead(out Task<RequestContext>? pending))
                {
                    (await pending.ConfigureAwait(false)).Dispose();
                }
            }
        }
    }

    private async ValueTask SendAsync(ResponseBuffer buffer, CancellationTokenSource sendTimer, List<RequestContext> sent)
    {
        if (buffer.Length > 0)
        {
            sendTimer.CancelAfter(_options.WriteTimeout);
            await buffer.SendAsync(_transport, sendTimer.Token).ConfigureAwait(false);
            sendTimer.CancelAfter(Timeout.InfiniteTimeSpan);
        }

        foreach (RequestContext context in sent)
        {
            context.Dispose();
        }

        sent.Clear();
    }

    /// <summary>Encodes one response; false (and nothing buffered for it) when it cannot be encoded.</summary>
    private bool TryEncode(ResponseBuffer buffer, RequestContext context, out bool spliced)
    {
        spliced = false;
        if (context.RawResponse is { } raw)
        {
            // A raw SASL token (SaslHandshake v0): size prefix and bytes, no response header.
            var writer = new KafkaWriter(buffer);
            writer.WriteInt32(raw.Length);
            writer.WriteRaw(raw);
            writer.Commit();
            return true;
        }

        if (context.Response is null)
        {
            return true; // acks=0: nothing to send
        }

        try
        {
            spliced = buffer.Append(context);
            return true;
        }
        catch (Exception e)
        {
            // A value that does not fit its wire type (a STRING over 32,767 bytes): the request cannot be
            // answered, so the connection closes; what was started still gives back its resources.
            Log.ResponseNotEncoded(_logger, e, _name, context.ApiKey, context.ResponseVersion);
            return false;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Closing connection {Connection}: {Reason}")]
        public static partial void ClosingConnection(ILogger logger, string connection, string reason);

        [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Closing connection {Connection}: the {ApiKey} v{Version} response could not be encoded")]
        public static partial void ResponseNotEncoded(ILogger logger, Exception exception, string connection, ApiKey apiKey, short version);

        [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Closing connection {Connection}: a response was not taken within {Timeout}")]
        public static partial void WriteTimedOut(ILogger logger, string connection, TimeSpan timeout);

        [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "Writing to connection {Connection} failed")]
        public static partial void WriteFailed(ILogger logger, Exception exception, string connection);
    }
}
