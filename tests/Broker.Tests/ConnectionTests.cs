using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using LogBroker.Broker.Handlers;
using LogBroker.Broker.Network;
using LogBroker.Broker.Tests.Handlers;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.Storage;
using LogBroker.TestKit;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Broker.Tests;

/// <summary>The connection loop and its response buffer, over in-memory pipes (no socket).</summary>
public sealed class ConnectionTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly TempDirectory _dir = new("connection");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_response_that_cannot_be_encoded_closes_the_connection_and_gives_back_what_its_requests_held()
    {
        var budget = new MemoryBudget(1024 * 1024);
        var dispatcher = new RequestDispatcher([new UnencodableMetadataHandler()], NullLogger<RequestDispatcher>.Instance);
        var toBroker = new Pipe();
        var fromBroker = new Pipe();
        var connection = new KafkaConnection(new DuplexStream(toBroker.Reader, fromBroker.Writer), "test", dispatcher, new BrokerOptions(), budget,
            TimeProvider.System, NullLogger.Instance);
        Task running = connection.RunAsync(TestContext.Current.CancellationToken);

        // An ApiVersions (answered), a Metadata whose answer cannot be encoded, then another ApiVersions.
        await toBroker.Writer.WriteAsync(Frame(ApiKey.ApiVersions, 3, 1, new ApiVersionsRequest()), TestContext.Current.CancellationToken);
        await toBroker.Writer.WriteAsync(Frame(ApiKey.Metadata, 1, 2, new MetadataRequest()), TestContext.Current.CancellationToken);
        await toBroker.Writer.WriteAsync(Frame(ApiKey.ApiVersions, 3, 3, new ApiVersionsRequest()), TestContext.Current.CancellationToken);

        await running.WaitAsync(Patience, TestContext.Current.CancellationToken);
        await fromBroker.Writer.CompleteAsync(); // the listener closes the transport once the connection ends
        List<int> answered = await ReadCorrelationIdsAsync(fromBroker.Reader);
        Assert.Equal([1], answered);
        Assert.Equal(budget.Capacity, budget.Available);
    }

    [Fact]
    public async Task Record_batches_a_fetch_response_holds_are_spliced_from_the_segment_not_copied()
    {
        using PartitionLog log = PartitionLog.Open(Path.Combine(_dir.Path, "t-0"), LogConfig.Default, cleanShutdown: false);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(AppendStatus.Success, log.Append(Batches.Create(200, 1000)).Status);
        }

        LogReadResult read = log.Read(0, int.MaxValue);
        Assert.True(read.Records.Length > 800_000);
        using var context = new RequestContext(new byte[16], 16, new RequestHeader((short)ApiKey.Fetch, 4, 9, null), "test")
        {
            Response = FetchOf(read.Records),
            ResponseVersion = 4,
        };
        context.Hold(read);

        using var buffer = new ResponseBuffer();
        Assert.True(buffer.Append(context));

        Assert.True(buffer.CopiedBytes < 1024, $"{buffer.CopiedBytes} bytes were copied for a response of {buffer.Length}");
        using var sent = new MemoryStream();
        await buffer.SendAsync(sent, TestContext.Current.CancellationToken);
        byte[] frame = sent.ToArray();
        Assert.Equal(frame.Length - 4, BinaryPrimitives.ReadInt32BigEndian(frame));
        var reader = new KafkaReader(frame.AsMemory(4));
        Assert.Equal(9, reader.ReadInt32());
        var decoded = new FetchResponse();
        decoded.Read(ref reader, 4);
        Assert.False(reader.Failed);
        Assert.True(decoded.Responses[0].Partitions[0].Records!.Value.Span.SequenceEqual(read.Records.Span));
    }

    [Fact]
    public void Short_record_runs_are_copied_and_the_frame_is_the_same()
    {
        using PartitionLog log = PartitionLog.Open(Path.Combine(_dir.Path, "s-0"), LogConfig.Default, cleanShutdown: false);
        Assert.Equal(AppendStatus.Success, log.Append(Batches.Create(3)).Status);
        LogReadResult read = log.Read(0, int.MaxValue);
        using var context = new RequestContext(new byte[16], 16, new RequestHeader((short)ApiKey.Fetch, 4, 9, null), "test")
        {
            Response = FetchOf(read.Records),
            ResponseVersion = 4,
        };
        context.Hold(read);
        using var buffer = new ResponseBuffer();
        Assert.False(buffer.Append(context));

        Assert.Equal(buffer.Length, buffer.CopiedBytes);
    }

    private static FetchResponse FetchOf(ReadOnlyMemory<byte> records) => new()
    {
        Responses =
        [
            new FetchResponse.FetchableTopicResponse
            {
                Topic = "t",
                Partitions = [new FetchResponse.PartitionData { PartitionIndex = 0, HighWatermark = 1, Records = records }],
            },
        ],
    };

    private static byte[] Frame(ApiKey key, short version, int correlation, IKafkaMessage request) =>
        RequestFrames.Encode(key, version, correlation, request, "test");

    private static async Task<List<int>> ReadCorrelationIdsAsync(PipeReader reader)
    {
        var ids = new List<int>();
        while (true)
        {
            ReadResult result = await reader.ReadAsync(TestContext.Current.CancellationToken);
            ReadOnlySequence<byte> buffer = result.Buffer;
            while (buffer.Length >= 8)
            {
                byte[] head = buffer.Slice(0, 8).ToArray();
                int size = BinaryPrimitives.ReadInt32BigEndian(head);
                if (buffer.Length < 4 + size)
                {
                    break;
                }

                ids.Add(BinaryPrimitives.ReadInt32BigEndian(head.AsSpan(4)));
                buffer = buffer.Slice(4 + size);
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                return ids;
            }
        }
    }

    /// <summary>Answers Metadata with a topic name too long for a v1 STRING.</summary>
    private sealed class UnencodableMetadataHandler() : RequestHandler<MetadataRequest, MetadataResponse>(ApiKey.Metadata, 0, 12)
    {
        public override ValueTask<MetadataResponse?> HandleAsync(RequestContext context, MetadataRequest request) =>
            ValueTask.FromResult<MetadataResponse?>(new MetadataResponse
            {
                Topics = [new MetadataResponse.MetadataResponseTopic { Name = new string('x', 40_000) }],
            });
    }
}
