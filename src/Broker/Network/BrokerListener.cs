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
internal sealed partial class BrokerListener(
    IOptions<BrokerOptions> options,
    RequestDispatcher dispatcher,
    ClusterInfo cluster,
    ILogger<BrokerListener> logger) : BackgroundService
{
    private readonly BrokerOptions _options = options.Value;
    private readonly TaskCompletionSource<IPEndPoint> _bound = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _connections;

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
        cluster.Host = _options.AdvertisedHost ?? (local.Address.Equals(IPAddress.Any) ? "127.0.0.1" : local.Address.ToString());
        cluster.Port = _options.AdvertisedPort ?? local.Port;
        Log.Listening(logger, local, cluster.Host, cluster.Port);
        _bound.TrySetResult(local);

        var running = new HashSet<Task>();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                Socket socket = await listener.AcceptAsync(stoppingToken).ConfigureAwait(false);
                if (Interlocked.Increment(ref _connections) > _options.MaxConnections)
                {
                    Interlocked.Decrement(ref _connections);
                    Log.TooManyConnections(logger, _options.MaxConnections);
                    socket.Dispose();
                    continue;
                }

                socket.NoDelay = true;
                Task connection = RunConnectionAsync(socket, stoppingToken);
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

    private async Task RunConnectionAsync(Socket socket, CancellationToken stoppingToken)
    {
        await Task.Yield();
        try
        {
            await new KafkaConnection(socket, dispatcher, _options, logger).RunAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Log.ConnectionFailed(logger, e);
        }
        finally
        {
            Interlocked.Decrement(ref _connections);
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

        [LoggerMessage(EventId = 3203, Level = LogLevel.Error, Message = "A connection failed unexpectedly")]
        public static partial void ConnectionFailed(ILogger logger, Exception exception);
    }
}
