using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker.Network;

/// <summary>
/// Accepts TCP connections on <see cref="BrokerOptions.Listener"/> and runs one
/// <see cref="KafkaConnection"/> per socket. On shutdown it stops accepting, lets every connection
/// finish the requests it has started, then returns (the storage closes after it).
/// </summary>
/// <remarks>
/// At most <see cref="BrokerOptions.MaxConnections"/> connections are open at once, and at most
/// <see cref="BrokerOptions.MaxConnectionsPerIp"/> from one address; more are closed at accept. A slot is
/// given back when the connection's loops end, which a peer that leaves causes at once (parked requests
/// are cancelled). A failing accept (EMFILE, ENFILE, ENOBUFS…) is logged and retried after a pause; it
/// never stops the broker.
/// </remarks>
internal sealed partial class BrokerListener(
    IOptions<BrokerOptions> options,
    RequestDispatcher dispatcher,
    ClusterInfo cluster,
    MemoryBudget budget,
    TimeProvider time,
    ILogger<BrokerListener> logger,
    Telemetry.BrokerMetrics? metrics = null) : BackgroundService
{
    private readonly BrokerOptions _options = options.Value;
    private readonly TaskCompletionSource<IPEndPoint> _bound = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<IPAddress, int> _perAddress = [];
    private int _connections;

    /// <summary>Connections open now (for tests and metrics).</summary>
    public int OpenConnections => Volatile.Read(ref _connections);

    /// <summary>Completes with the bound endpoint once the listener is up (tests bind port 0).</summary>
    public Task<IPEndPoint> Bound => _bound.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        IPEndPoint endpoint = ParseEndpoint(_options.Listener);
        using var listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // Lets a restarted broker take its port back while old connections sit in TIME_WAIT.
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(endpoint);
            listener.Listen(512);
        }
        catch (SocketException e)
        {
            _bound.TrySetException(e);
            throw;
        }

        var local = (IPEndPoint)listener.LocalEndPoint!;
        cluster.Host = _options.AdvertisedHost ?? (local.Address.Equals(IPAddress.Any) || local.Address.Equals(IPAddress.IPv6Any) ? "127.0.0.1" : local.Address.ToString());
        cluster.Port = _options.AdvertisedPort ?? local.Port;
        Log.Listening(logger, local, cluster.Host, cluster.Port);
        _bound.TrySetResult(local);

        var running = new HashSet<Task>();
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
                    // Out of descriptors or buffers, or a connection reset before it was accepted: keep listening.
                    Log.AcceptFailed(logger, e.SocketErrorCode, e);
                    await Task.Delay(TimeSpan.FromMilliseconds(100), time, stoppingToken).ConfigureAwait(false);
                    continue;
                }

                IPAddress? address = (socket.RemoteEndPoint as IPEndPoint)?.Address;
                if (!TryAdmit(address))
                {
                    socket.Dispose();
                    continue;
                }

                socket.NoDelay = true;
                Task connection = RunConnectionAsync(socket, address, stoppingToken);
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

        Task[] remaining;
        lock (running)
        {
            remaining = [.. running];
        }

        await Task.WhenAll(remaining).ConfigureAwait(false);
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

    private async Task RunConnectionAsync(Socket socket, IPAddress? address, CancellationToken stoppingToken)
    {
        await Task.Yield();
        metrics?.ConnectionOpened(_options.Listener);
        try
        {
            string name = socket.RemoteEndPoint?.ToString() ?? "unknown";
            await using var stream = new NetworkStream(socket, ownsSocket: true);
            await new KafkaConnection(stream, name, dispatcher, _options, budget, time, logger).RunAsync(stoppingToken).ConfigureAwait(false);
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
        [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "Listening on {Endpoint}, advertised as {Host}:{Port}")]
        public static partial void Listening(ILogger logger, IPEndPoint endpoint, string host, int port);

        [LoggerMessage(EventId = 3202, Level = LogLevel.Warning, Message = "Refused a connection: {Max} connections are open")]
        public static partial void TooManyConnections(ILogger logger, int max);

        [LoggerMessage(EventId = 3204, Level = LogLevel.Warning, Message = "Refused a connection: {Max} connections are open from {Address}")]
        public static partial void TooManyConnectionsFrom(ILogger logger, int max, IPAddress address);

        [LoggerMessage(EventId = 3205, Level = LogLevel.Error, Message = "Accepting a connection failed ({Error}); retrying")]
        public static partial void AcceptFailed(ILogger logger, SocketError error, Exception exception);

        [LoggerMessage(EventId = 3203, Level = LogLevel.Error, Message = "A connection failed unexpectedly")]
        public static partial void ConnectionFailed(ILogger logger, Exception exception);
    }
}
