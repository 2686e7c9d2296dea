using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using LogBroker.Client;
using LogBroker.Client.Admin;
using LogBroker.Protocol;

namespace LogBroker.Integration.Tests.Client;

/// <summary>
/// A server on 127.0.0.1 that answers the client's first request with hostile bytes: the client fails
/// with a Kafka error within its timeouts, allocates nothing unbounded, and does not hang or crash.
/// </summary>
public sealed class HostileBrokerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Replies { get; } = ["huge-size", "negative-size", "wrong-correlation", "garbage-body", "silence"];

    [Theory]
    [MemberData(nameof(Replies))]
    public async Task A_hostile_reply_fails_the_request_cleanly(string reply)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        Task server = Task.Run(async () =>
        {
            for (int connection = 0; connection < 20; connection++)
            {
                using TcpClient client = await listener.AcceptTcpClientAsync(Ct);
                NetworkStream stream = client.GetStream();
                byte[] size = new byte[4];
                await stream.ReadExactlyAsync(size, Ct);
                byte[] request = new byte[BinaryPrimitives.ReadInt32BigEndian(size)];
                await stream.ReadExactlyAsync(request, Ct);
                int correlation = BinaryPrimitives.ReadInt32BigEndian(request.AsSpan(4));
                byte[] answer = reply switch
                {
                    "huge-size" => [0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1],
                    "negative-size" => [0xFF, 0xFF, 0xFF, 0xF0],
                    "wrong-correlation" => Frame(correlation + 7, [0, 0, 0, 0, 0, 0]),
                    "garbage-body" => Frame(correlation, [0, 0, 0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3]),
                    _ => [],
                };
                await stream.WriteAsync(answer, Ct);
                if (reply == "silence")
                {
                    await Task.Delay(TimeSpan.FromSeconds(5), Ct);
                }
            }
        }, Ct);

        await using var admin = new AdminClient(new AdminOptions
        {
            BootstrapServers = $"127.0.0.1:{port}",
            RequestTimeout = TimeSpan.FromSeconds(1),
            MaxResponseBytes = 1 << 20,
        });
        var watch = System.Diagnostics.Stopwatch.StartNew();
        KafkaException e = await Assert.ThrowsAnyAsync<KafkaException>(() => admin.ListTopicsAsync(cancellationToken: Ct));
        if (reply is "huge-size" or "negative-size")
        {
            // The size prefix is refused before anything is allocated or read: CORRUPT_MESSAGE, which the
            // bootstrap may wrap ("no bootstrap server is reachable"); not a failed allocation turned
            // into NETWORK_EXCEPTION, which is what a missing bound gives.
            Assert.True(Causes(e).Any(c => c is KafkaException { ErrorCode: ErrorCode.CorruptMessage }), e.ToString());
        }
        else
        {
            Assert.True(e.ErrorCode is ErrorCode.CorruptMessage or ErrorCode.NetworkException or ErrorCode.RequestTimedOut, e.ErrorCode.ToString());
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"took {watch.Elapsed}");
        listener.Stop();
    }

    private static IEnumerable<Exception> Causes(Exception e)
    {
        for (Exception? cause = e; cause is not null; cause = cause.InnerException)
        {
            yield return cause;
        }
    }

    private static byte[] Frame(int correlation, byte[] body)
    {
        byte[] frame = new byte[8 + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, 4 + body.Length);
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(4), correlation);
        body.CopyTo(frame.AsSpan(8));
        return frame;
    }
}
