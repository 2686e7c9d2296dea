using System.Net;
using System.Net.Sockets;
using LogBroker.Broker.Network;
using LogBroker.Protocol.Messages;
using LogBroker.Storage;
using LogBroker.TestKit;

namespace LogBroker.Broker.Tests;

/// <summary>
/// The sendfile path of <see cref="ResponseBuffer"/> over a real loopback socket: the bytes that arrive are the
/// frame the mapped-memory path writes, also when the kernel takes them a few KiB at a time (partial sends).
/// </summary>
public sealed class SendFileTests : IDisposable
{
    private readonly TempDirectory _dir = new("sendfile");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_fetch_response_sent_with_sendfile_in_partial_sends_arrives_as_the_mapped_memory_frame()
    {
        using PartitionLog log = PartitionLog.Open(Path.Combine(_dir.Path, "t-0"), LogConfig.Default, cleanShutdown: false);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(AppendStatus.Success, log.Append(Batches.Create(200, 1000, tag: "b" + i)).Status);
        }

        // Read from the second batch on, so the file position sent is not 0.
        LogReadResult first = log.Read(0, 1);
        long second = first.LogEndOffset > 200 ? 200 : 0;
        first.Dispose();
        byte[] expected = await MappedFrameAsync(log, second);

        LogReadResult read = log.Read(second, int.MaxValue);
        using RequestContext context = FetchContext(read);
        using var buffer = new ResponseBuffer { SendFile = true };
        Assert.True(buffer.Append(context));

        (Socket server, Socket client) = await ConnectedPairAsync();
        using (server)
        using (client)
        {
            // Small kernel buffers and a slow reader: sendfile cannot take the ~600 KB response in one call.
            server.SendBufferSize = 4096;
            client.ReceiveBufferSize = 4096;
            using var transport = new NetworkStream(server, ownsSocket: false);
            Task<byte[]> receiving = ReceiveAsync(client, expected.Length);
            await buffer.SendAsync(transport, TestContext.Current.CancellationToken);
            byte[] received = await receiving.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

            Assert.Equal(expected.Length, buffer.LastSentWithFile); // it went the sendfile way
            Assert.Equal(expected, received);
        }
    }

    [Fact]
    public async Task With_sendfile_off_a_socket_gets_the_mapped_memory_write()
    {
        using PartitionLog log = PartitionLog.Open(Path.Combine(_dir.Path, "u-0"), LogConfig.Default, cleanShutdown: false);
        Assert.Equal(AppendStatus.Success, log.Append(Batches.Create(200, 1000)).Status);
        byte[] expected = await MappedFrameAsync(log, 0);

        LogReadResult read = log.Read(0, int.MaxValue);
        using RequestContext context = FetchContext(read);
        using var buffer = new ResponseBuffer { SendFile = false };
        Assert.True(buffer.Append(context));
        (Socket server, Socket client) = await ConnectedPairAsync();
        using (server)
        using (client)
        {
            using var transport = new NetworkStream(server, ownsSocket: false);
            Task<byte[]> receiving = ReceiveAsync(client, expected.Length);
            await buffer.SendAsync(transport, TestContext.Current.CancellationToken);
            Assert.Equal(expected, await receiving.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
            Assert.Equal(0, buffer.LastSentWithFile);
        }
    }

    // The frame as today's path writes it: spliced runs written from the segment's mapped memory.
    private static async Task<byte[]> MappedFrameAsync(PartitionLog log, long offset)
    {
        LogReadResult read = log.Read(offset, int.MaxValue);
        using RequestContext context = FetchContext(read);
        using var buffer = new ResponseBuffer();
        Assert.True(buffer.Append(context));
        using var sent = new MemoryStream();
        await buffer.SendAsync(sent, TestContext.Current.CancellationToken);
        return sent.ToArray();
    }

    private static RequestContext FetchContext(LogReadResult read)
    {
        var context = new RequestContext(new byte[16], 16, new RequestHeader((short)ApiKey.Fetch, 4, 9, null), "test")
        {
            Response = new FetchResponse
            {
                Responses =
                [
                    new FetchResponse.FetchableTopicResponse
                    {
                        Topic = "t",
                        Partitions = [new FetchResponse.PartitionData { PartitionIndex = 0, HighWatermark = 1, Records = read.Records }],
                    },
                ],
            },
            ResponseVersion = 4,
        };
        context.Hold(read);
        return context;
    }

    private static async Task<(Socket Server, Socket Client)> ConnectedPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!, TestContext.Current.CancellationToken);
        Socket server = await listener.AcceptAsync(TestContext.Current.CancellationToken);
        return (server, client);
    }

    // Reads exactly `length` bytes in 1 KiB pieces (bounded: a piece per KiB, plus the end).
    private static async Task<byte[]> ReceiveAsync(Socket socket, int length)
    {
        byte[] all = new byte[length];
        int got = 0;
        for (int pass = 0; got < length && pass <= length; pass++)
        {
            int n = await socket.ReceiveAsync(all.AsMemory(got, Math.Min(1024, length - got)), SocketFlags.None, TestContext.Current.CancellationToken);
            if (n == 0)
            {
                break;
            }

            got += n;
            if (pass % 64 == 0)
            {
                await Task.Delay(1, TestContext.Current.CancellationToken); // let the sender's buffer fill, so sends are partial
            }
        }

        return all.AsSpan(0, got).ToArray();
    }
}
