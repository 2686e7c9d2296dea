using LogBroker.Broker.Handlers;
using LogBroker.Broker.Network;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>The dispatcher's rules, over an in-memory connection to the whole broker.</summary>
public sealed class DispatcherTests : HandlerTest
{
    [Fact]
    public void Each_handler_decodes_into_the_request_class_of_its_own_key()
    {
        foreach (IRequestHandler handler in Broker.Services.GetServices<IRequestHandler>().Append(new ApiVersionsHandler([])))
        {
            Assert.Equal(ApiMessages.CreateRequest(handler.Key).GetType(), handler.CreateRequest().GetType());
            (short lowest, short highest) = ApiMessages.SchemaVersions(handler.Key);
            Assert.InRange(handler.MinVersion, lowest, handler.MaxVersion);
            Assert.InRange(handler.MaxVersion, handler.MinVersion, highest);
        }
    }

    [Fact]
    public async Task A_version_below_a_handlers_range_closes_the_connection()
    {
        // Fetch is served from v4; Kafka closes the connection for a version it does not serve.
        Assert.True(await Client.IsClosedAfterAsync(ApiKey.Fetch, 3, new FetchRequest(), Token));
    }

    [Fact]
    public async Task A_version_above_a_handlers_range_closes_the_connection()
    {
        short max = Broker.Dispatcher.Advertised.Single(a => a.Key == ApiKey.Heartbeat).Max;
        Assert.True(await Client.IsClosedAfterAsync(ApiKey.Heartbeat, (short)(max + 1), new HeartbeatRequest(), Token));
    }

    [Fact]
    public async Task An_api_without_a_handler_closes_the_connection()
    {
        // Key 24 is Kafka's AddPartitionsToTxn, which LogBroker does not serve (no transactions); the key is refused before any body is read.
        Assert.True(await Client.IsClosedAfterAsync((ApiKey)24, 0, new HeartbeatRequest(), Token));
    }

    [Fact]
    public async Task A_request_body_that_does_not_decode_closes_the_connection_and_earlier_answers_are_sent()
    {
        ApiVersionsResponse first = await Client.SendAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest(), cancellationToken: Token);
        Assert.Equal(0, first.ErrorCode);

        byte[] frame = EmbeddedClient.Encode(ApiKey.Heartbeat, 0, 7, new HeartbeatRequest { GroupId = "g", MemberId = "m" });
        byte[] cut = frame[..^3]; // the member id's last bytes are missing
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(cut, cut.Length - 4);
        await Client.WriteAsync(cut, Token);

        Assert.Null(await Client.ReadFrameAsync(Token));
    }

    [Fact]
    public async Task Trailing_bytes_after_a_request_are_tolerated()
    {
        byte[] frame = EmbeddedClient.Encode(ApiKey.ApiVersions, 3, 42, new ApiVersionsRequest { ClientSoftwareName = "t", ClientSoftwareVersion = "1" });
        byte[] padded = [.. frame, 0, 0, 0];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(padded, padded.Length - 4);
        await Client.WriteAsync(padded, Token);

        byte[]? answer = await Client.ReadFrameAsync(Token);
        Assert.NotNull(answer);
        Assert.Equal(0, EmbeddedClient.Decode<ApiVersionsResponse>(answer, ApiKey.ApiVersions, 3, 42).ErrorCode);
    }

    [Fact]
    public async Task A_handler_that_throws_closes_only_its_connection()
    {
        var dispatcher = new RequestDispatcher([new ThrowingHeartbeatHandler()], NullLogger<RequestDispatcher>.Instance);
        byte[] encoded = EmbeddedClient.Encode(ApiKey.Heartbeat, 0, 1, new HeartbeatRequest())[4..];
        byte[] frame = System.Buffers.ArrayPool<byte>.Shared.Rent(encoded.Length); // the context gives its frame back to the pool
        encoded.CopyTo(frame, 0);
        using var context = new RequestContext(frame, encoded.Length,
            new RequestHeader((short)ApiKey.Heartbeat, 0, 1, null), "t");

        RequestContext done = await dispatcher.ProcessAsync(context);

        Assert.Null(done.Response);
        Assert.Contains("boom", done.CloseReason, StringComparison.Ordinal);
    }

    private sealed class ThrowingHeartbeatHandler() : RequestHandler<HeartbeatRequest, HeartbeatResponse>(ApiKey.Heartbeat, 0, 3)
    {
        public override ValueTask<HeartbeatResponse?> HandleAsync(RequestContext context, HeartbeatRequest request) =>
            throw new InvalidOperationException("boom");
    }
}
