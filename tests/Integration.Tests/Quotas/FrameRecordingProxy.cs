using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace LogBroker.Integration.Tests.Quotas;

/// <summary>
/// A TCP proxy in front of a broker that forwards Kafka frames whole and records when each one passed, in
/// each direction: an observer of what a client really sends, independent of the client's own code.
/// </summary>
internal sealed class FrameRecordingProxy : IAsyncDisposable
{
    private const int MaxFrame = 64 * 1024 * 1024;

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Task> _pumps = [];
    private readonly Task _accepting;
    private int _connections;

    public FrameRecordingProxy(int targetPort)
    {
        _target = targetPort;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    /// <summary>Every frame seen: connection number, direction, Stopwatch timestamp, and the frame (size prefix removed).</summary>
    public ConcurrentQueue<Frame> Frames { get; } = new();

    private async Task AcceptAsync()
    {
        try
        {
            for (int i = 0; i < 1000 && !_stop.IsCancellationRequested; i++)
            {
                TcpClient client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var broker = new TcpClient { NoDelay = true };
                await broker.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
                client.NoDelay = true;
                int connection = Interlocked.Increment(ref _connections);
                _pumps.Add(PumpAsync(client, broker, connection, fromClient: true));
                _pumps.Add(PumpAsync(broker, client, connection, fromClient: false));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, int connection, bool fromClient)
    {
        byte[] size = new byte[4];
        try
        {
            NetworkStream input = from.GetStream();
            NetworkStream output = to.GetStream();
            for (long n = 0; n < 10_000_000 && !_stop.IsCancellationRequested; n++)
            {
                await input.ReadExactlyAsync(size, _stop.Token);
                int length = BinaryPrimitives.ReadInt32BigEndian(size);
                if (length < 0 || length > MaxFrame)
                {
                    break;
                }

                byte[] frame = new byte[length];
                await input.ReadExactlyAsync(frame, _stop.Token);
                Frames.Enqueue(new Frame(connection, fromClient, Stopwatch.GetTimestamp(), frame));
                await output.WriteAsync(size, _stop.Token);
                await output.WriteAsync(frame, _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException or EndOfStreamException)
        {
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        await Task.WhenAll(_pumps);
        _stop.Dispose();
    }

    /// <summary>One frame: which proxied connection, which way, when (Stopwatch ticks), and its bytes.</summary>
    public readonly record struct Frame(int Connection, bool FromClient, long At, byte[] Bytes);
}
