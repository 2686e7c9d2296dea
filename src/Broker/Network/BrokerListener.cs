using System.ComponentModel;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Authentication;
using LogBroker.Broker.Security;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker.Network;

/// <summary>
/// Accepts TCP connections on every listener (<see cref="SecurityOptions.Listeners"/>, or the one of
/// <see cref="BrokerOptions.Listener"/>) and runs one <see cref="KafkaConnection"/> per socket, over TLS
/// (<see cref="SslStream"/>) on SSL and SASL_SSL listeners. On shutdown it stops accepting, lets every
/// connection finish the requests it has started, then returns (the storage closes after it).
/// </summary>
/// <remarks>
/// TLS: a handshake must finish within <see cref="SecurityOptions.TlsHandshakeTimeout"/>; one that fails
/// (a plaintext client, an untrusted or missing client certificate) closes the socket and is logged. The
/// certificate files are checked every <see cref="SecurityOptions.CertificateReloadInterval"/> and on SIGHUP,
/// and a changed certificate is used from the next handshake. A client certificate's subject, mapped by the
/// listener's rules, is the principal on SSL listeners.
/// </remarks>
/// <remarks>
/// At most <see cref="BrokerOptions.MaxConnections"/> connections are open at once, and at most
/// <see cref="BrokerOptions.MaxConnectionsPerIp"/> from one address; more are closed at accept. A slot is
/// given back when the connection's loops end, which a peer that leaves causes at once (parked requests
/// are cancelled). A failing accept (EMFILE, ENFILE, ENOBUFS…) is logged and retried after a pause; it
/// never stops the broker.
/// </remarks>
internal sealed partial class BrokerListener(
    IOptions<BrokerOptions> options,
    IOptions<SecurityOptions> security,
    RequestDispatcher dispatcher,
    ClusterInfo cluster,
    MemoryBudget budget,
    TimeProvider time,
    ILogger<BrokerListener> logger,
    Telemetry.BrokerMetrics? metrics = null) : BackgroundService
{
    private readonly BrokerOptions _options = options.Value;
    private readonly SecurityOptions _security = security.Value;
    private readonly TaskCompletionSource<IReadOnlyList<ListenerInfo>> _listeners = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<IPEndPoint> _bound = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<IPAddress, int> _perAddress = [];
    private int _connections;

    /// <summary>Connections open now (for tests and metrics).</summary>
    public int OpenConnections => Volatile.Read(ref _connections);

    /// <summary>Completes with the bound endpoint once the listener is up (tests bind port 0).</summary>
    /// <remarks>The first listener's endpoint.</remarks>
    public Task<IPEndPoint> Bound => _bound.Task;

    /// <summary>Every listener, bound (tests with several listeners on port 0 read their ports here).</summary>
    public Task<IReadOnlyList<ListenerInfo>> Listeners => _listeners.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var sockets = new List<(Socket Socket, ListenerInfo Listener)>();
        try
        {
            foreach (ListenerOptions configured in ListenerInfo.Configured(_options, _security))
            {
                TlsServer? tls = configured.Protocol is Security.SecurityProtocol.Ssl or Security.SecurityProtocol.SaslSsl ? new TlsServer(configured, logger) : null;
                var info = new ListenerInfo(configured, tls);
                IPEndPoint endpoint = ParseEndpoint(configured.Address);
                var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add((socket, info));

                // Lets a restarted broker take its port back while old connections sit in TIME_WAIT.
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                socket.Bind(endpoint);
                socket.Listen(512);
                var local = (IPEndPoint)socket.LocalEndPoint!;
                info.SetBound(local);
                Log.Listening(logger, info.Name, info.ProtocolName, local, info.AdvertisedHost, info.AdvertisedPort);
            }
        }
        catch (Exception e)
        {
            foreach ((Socket socket, _) in sockets)
            {
                socket.Dispose();
            }

            _bound.TrySetException(e);
            _listeners.TrySetException(e);
            throw;
        }

        ListenerInfo first = sockets[0].Listener;
        cluster.Host = first.AdvertisedHost;
        cluster.Port = first.AdvertisedPort;
        ListenerInfo[] listeners = [.. sockets.Select(s => s.Listener)];
        cluster.Listeners = listeners;
        _bound.TrySetResult(first.Bound!);
        _listeners.TrySetResult(listeners);

        var running = new HashSet<Task>();
        using PosixSignalRegistration? hangup = RegisterHangup(sockets);
        Task reloads = ReloadCertificatesAsync(sockets, stoppingToken);
        try
        {
            await Task.WhenAll(sockets.Select(s => AcceptLoopAsync(s.Socket, s.Listener, running, stoppingToken))).ConfigureAwait(false);
        }
        finally
        {
            foreach ((Socket socket, _) in sockets)
            {
                socket.Dispose();
            }
        }

        await reloads.ConfigureAwait(false);
        Task[] remaining;
        lock (running)
        {
            remaining = [.. running];
        }

        await Task.WhenAll(remaining).ConfigureAwait(false);
    }

    private PosixSignalRegistration? RegisterHangup(List<(Socket Socket, ListenerInfo Listener)> sockets)
    {
        if (!sockets.Exists(s => s.Listener.Tls is not null) || OperatingSystem.IsWindows())
        {
            return null;
        }

        return PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true; // SIGHUP reloads certificates; it does not stop the broker
            Log.Hangup(logger);
            foreach ((_, ListenerInfo listener) in sockets)
            {
                listener.Tls?.Reload(force: true);
            }
        });
    }

    private async Task ReloadCertificatesAsync(List<(Socket Socket, ListenerInfo Listener)> sockets, CancellationToken stoppingToken)
    {
        if (!sockets.Exists(s => s.Listener.Tls is not null))
        {
            return;
        }

        using var timer = new PeriodicTimer(_security.CertificateReloadInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                foreach ((_, ListenerInfo listener) in sockets)
                {
                    listener.Tls?.Reload(force: false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task AcceptLoopAsync(Socket listener, ListenerInfo info, HashSet<Task> running, CancellationToken stoppingToken)
    {
        await Task.Yield();
        var failures = new FailureBurst(time, TimeSpan.FromSeconds(10));
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await listener.AcceptAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    // Out of descriptors or buffers, or a connection reset before it was accepted: keep
                    // listening. Logged once per burst (no stack trace: the error code says it all).
                    if (failures.Fail(out int unlogged))
                    {
                        Log.AcceptFailed(logger, info.Name, e.SocketErrorCode, unlogged);
                    }

                    await Task.Delay(TimeSpan.FromMilliseconds(100), time, stoppingToken).ConfigureAwait(false);
                    continue;
                }

                if (failures.Succeed(out int repeats))
                {
                    Log.AcceptRecovered(logger, info.Name, repeats);
                }

                IPAddress? address = (socket.RemoteEndPoint as IPEndPoint)?.Address;
                if (!TryAdmit(address))
                {
                    socket.Dispose();
                    continue;
                }

                socket.NoDelay = true;
                Task connection = RunConnectionAsync(socket, address, info, stoppingToken);
                lock (running)
                {
                    running.Add(connection);
                }

                _ = connection.ContinueWith(
                    t =>
                    {
                        lock (running)
                        {
                            running.Remove(t);
                        }
                    },
                    CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private bool TryAdmit(IPAddress? address)
    {
        if (Interlocked.Increment(ref _connections) > _options.MaxConnections)
        {
            Interlocked.Decrement(ref _connections);
            Log.TooManyConnections(logger, _options.MaxConnections);
            return false;
        }

        if (address is not null)
        {
            lock (_perAddress)
            {
                _perAddress.TryGetValue(address, out int open);
                if (open >= _options.MaxConnectionsPerIp)
                {
                    Interlocked.Decrement(ref _connections);
                    Log.TooManyConnectionsFrom(logger, _options.MaxConnectionsPerIp, address);
                    return false;
                }

                _perAddress[address] = open + 1;
            }
        }

        return true;
    }

    private void Leave(IPAddress? address)
    {
        if (address is not null)
        {
            lock (_perAddress)
            {
                int open = _perAddress[address] - 1;
                if (open == 0)
                {
                    _perAddress.Remove(address);
                }
                else
                {
                    _perAddress[address] = open;
                }
            }
        }

        Interlocked.Decrement(ref _connections);
    }

    private async Task RunConnectionAsync(Socket socket, IPAddress? address, ListenerInfo listener, CancellationToken stoppingToken)
    {
        await Task.Yield();
        metrics?.ConnectionOpened(_options.Listener);
        try
        {
            string name = socket.RemoteEndPoint?.ToString() ?? "unknown";
            Stream stream = new NetworkStream(socket, ownsSocket: true);
            try
            {
                string principal = ConnectionSession.Anonymous;
                if (listener.Tls is { } tls)
                {
                    var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                    stream = ssl;
                    string? mapped = await HandshakeAsync(ssl, tls, listener, name, stoppingToken).ConfigureAwait(false);
                    if (mapped is null)
                    {
                        return;
                    }

                    principal = listener.Protocol == Security.SecurityProtocol.Ssl ? mapped : principal;
                }

                var session = new ConnectionSession(listener, principal, time, _security.SaslAuthenticationTimeout) { SessionLifetime = _security.MaxReauthentication };
                await new KafkaConnection(stream, name, dispatcher, _options, budget, time, logger, session).RunAsync(stoppingToken).ConfigureAwait(false);
            }
            finally
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            Log.ConnectionFailed(logger, e);
        }
        finally
        {
            metrics?.ConnectionClosed(_options.Listener);
            Leave(address);
        }
    }

    /// <summary>The TLS handshake; the principal (mapped client certificate subject, or ANONYMOUS), or null when the connection must close.</summary>
    private async Task<string?> HandshakeAsync(SslStream ssl, TlsServer tls, ListenerInfo listener, string name, CancellationToken stoppingToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(_security.TlsHandshakeTimeout);
        try
        {
            await ssl.AuthenticateAsServerAsync(tls.ServerOptions(), timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            Log.HandshakeTimedOut(logger, listener.Name, name, _security.TlsHandshakeTimeout);
            return null;
        }
        catch (Exception e) when (e is AuthenticationException or IOException or SocketException or Win32Exception)
        {
            Log.HandshakeFailed(logger, listener.Name, name, e.Message);
            return null;
        }

        if (ssl.RemoteCertificate is not { } certificate)
        {
            return ConnectionSession.Anonymous;
        }

        using var client = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        string subject = PrincipalMapper.Rfc2253(client.SubjectName);
        string? mapped = listener.Mapper.Map(subject);
        if (mapped is null)
        {
            Log.NoPrincipal(logger, listener.Name, name, subject);
            return null;
        }

        return "User:" + mapped;
    }

    private static IPEndPoint ParseEndpoint(string listener)
    {
        if (!IPEndPoint.TryParse(listener, out IPEndPoint? endpoint))
        {
            int colon = listener.LastIndexOf(':');
            string host = colon < 0 ? listener : listener[..colon];
            int port = colon < 0 ? 9092 : int.Parse(listener.AsSpan(colon + 1), System.Globalization.CultureInfo.InvariantCulture);
            IPAddress address = host is "localhost" ? IPAddress.Loopback : Dns.GetHostAddresses(host)[0];
            endpoint = new IPEndPoint(address, port);
        }

        return endpoint;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "Listener {Name} ({Protocol}) on {Endpoint}, advertised as {Host}:{Port}")]
        public static partial void Listening(ILogger logger, string name, string protocol, IPEndPoint endpoint, string host, int port);

        [LoggerMessage(EventId = 3206, Level = LogLevel.Information, Message = "Listener {Listener}: TLS handshake with {Connection} failed: {Reason}")]
        public static partial void HandshakeFailed(ILogger logger, string listener, string connection, string reason);

        [LoggerMessage(EventId = 3208, Level = LogLevel.Information, Message = "Listener {Listener}: TLS handshake with {Connection} not finished within {Timeout}")]
        public static partial void HandshakeTimedOut(ILogger logger, string listener, string connection, TimeSpan timeout);

        [LoggerMessage(EventId = 3209, Level = LogLevel.Information, Message = "Listener {Listener}: no principal mapping rule matches the client certificate subject '{Subject}' of {Connection}")]
        public static partial void NoPrincipal(ILogger logger, string listener, string connection, string subject);

        [LoggerMessage(EventId = 3207, Level = LogLevel.Information, Message = "SIGHUP: reloading TLS certificates")]
        public static partial void Hangup(ILogger logger);

        [LoggerMessage(EventId = 3202, Level = LogLevel.Warning, Message = "Refused a connection: {Max} connections are open")]
        public static partial void TooManyConnections(ILogger logger, int max);

        [LoggerMessage(EventId = 3204, Level = LogLevel.Warning, Message = "Refused a connection: {Max} connections are open from {Address}")]
        public static partial void TooManyConnectionsFrom(ILogger logger, int max, IPAddress address);

        [LoggerMessage(EventId = 3205, Level = LogLevel.Error, Message = "Listener {Listener}: accepting a connection failed ({Error}); retrying every 100 ms, logged at most every 10 s ({Unlogged} more failures since the last line)")]
        public static partial void AcceptFailed(ILogger logger, string listener, SocketError error, int unlogged);

        [LoggerMessage(EventId = 3210, Level = LogLevel.Information, Message = "Listener {Listener}: accepting connections again ({Unlogged} more failures since the last line)")]
        public static partial void AcceptRecovered(ILogger logger, string listener, int unlogged);

        [LoggerMessage(EventId = 3203, Level = LogLevel.Error, Message = "A connection failed unexpectedly")]
        public static partial void ConnectionFailed(ILogger logger, Exception exception);
    }
}
