using System.Threading.Channels;
using LogBroker.Client.Network;
using LogBroker.Client.Producer;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Client.Tests;

/// <summary>
/// The whole producer (accumulator, sender, per-broker sinks) over a fake transport on a fake clock: no
/// sockets, no sleeps; the only real-time bound is a generous timeout so a broken producer fails instead of hanging.
/// </summary>
public sealed class ProducerSenderTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private ProducerOptions Options() => new()
    {
        TimeProvider = _time,
        Linger = TimeSpan.FromMilliseconds(5),
        EnableIdempotence = false,
        Acks = Acks.Leader,
    };

    [Fact]
    public async Task A_record_is_sent_once_the_linger_passes_on_the_clock_and_completes_with_the_brokers_offset()
    {
        var transport = new FakeTransport(_time, [0]);
        await using var producer = new KafkaProducer(Options(), NullLogger.Instance, transport);
        CancellationToken ct = TestContext.Current.CancellationToken;

        DateTimeOffset start = _time.GetUtcNow();
        Task<DeliveryResult> produced = producer.ProduceAsync("t", new ProducerRecord(null, new byte[] { 1 }) { Partition = 0 }, ct).AsTask();
        await transport.Appended.Reader.ReadAsync(ct).AsTask().WaitAsync(Bound, ct);

        // Move the clock a millisecond at a time until the request goes out; it must not go before the linger.
        Task<(int Node, ProduceRequest Request)> sent = transport.Requests.Reader.ReadAsync(ct).AsTask();
        for (int i = 0; i < 1000 && !sent.IsCompleted; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(1));
            await Task.WhenAny(sent, Task.Delay(20, ct));
        }

        (int node, ProduceRequest request) = await sent.WaitAsync(Bound, ct);
        Assert.InRange(transport.SentAt[0] - start, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(50));
        Assert.Equal(0, node);
        Assert.Equal(0, Assert.Single(Assert.Single(request.TopicData).PartitionData).Index);
        transport.Answer(request, (0, 100));
        DeliveryResult result = await produced.WaitAsync(Bound, ct);
        Assert.Equal(new TopicPartition("t", 0), result.Partition);
        Assert.Equal(100, result.Offset);
    }

    [Fact]
    public async Task Each_partition_gets_its_own_offset_from_the_response_whatever_the_order_of_the_answers()
    {
        var transport = new FakeTransport(_time, [0, 0, 0]);
        await using var producer = new KafkaProducer(Options() with { Linger = TimeSpan.FromHours(1) }, NullLogger.Instance, transport);
        CancellationToken ct = TestContext.Current.CancellationToken;

        var produced = new List<Task<DeliveryResult>>();
        for (int p = 0; p < 3; p++)
        {
            // The record is appended before ProduceAsync returns (the fake's metadata answers at once).
            produced.Add(producer.ProduceAsync("t", new ProducerRecord(null, new byte[] { 1 }) { Partition = p }, ct).AsTask());
        }

        Task flushed = producer.FlushAsync(ct);
        (_, ProduceRequest request) = await transport.Requests.Reader.ReadAsync(ct).AsTask().WaitAsync(Bound, ct);
        Assert.Equal(3, Assert.Single(request.TopicData).PartitionData.Count);
        transport.Answer(request, (2, 300), (0, 100), (1, 200));
        await flushed.WaitAsync(Bound, ct);
        for (int p = 0; p < 3; p++)
        {
            Assert.Equal((p + 1) * 100, (await produced[p]).Offset);
        }
    }

    [Fact]
    public async Task A_partition_the_response_leaves_out_fails_and_the_others_are_delivered()
    {
        var transport = new FakeTransport(_time, [0, 0]);
        await using var producer = new KafkaProducer(Options() with { Linger = TimeSpan.FromHours(1) }, NullLogger.Instance, transport);
        CancellationToken ct = TestContext.Current.CancellationToken;

        Task<DeliveryResult> first = producer.ProduceAsync("t", new ProducerRecord(null, new byte[] { 1 }) { Partition = 0 }, ct).AsTask();
        Task<DeliveryResult> second = producer.ProduceAsync("t", new ProducerRecord(null, new byte[] { 1 }) { Partition = 1 }, ct).AsTask();

        Task flushed = producer.FlushAsync(ct);
        (_, ProduceRequest request) = await transport.Requests.Reader.ReadAsync(ct).AsTask().WaitAsync(Bound, ct);
        transport.Answer(request, (1, 7));
        await flushed.WaitAsync(Bound, ct);
        Assert.Equal(ErrorCode.UnknownServerError, (await Assert.ThrowsAsync<ProduceException>(() => first)).ErrorCode);
        Assert.Equal(7, (await second).Offset);
    }

    private sealed class FakeTransport(TimeProvider time, int[] leaders) : IProducerTransport
    {
        private readonly Dictionary<ProduceRequest, TaskCompletionSource<ProduceResponse?>> _pending = [];

        public Channel<(int Node, ProduceRequest Request)> Requests { get; } = Channel.CreateUnbounded<(int, ProduceRequest)>();

        /// <summary>The clock's time at each produce request.</summary>
        public List<DateTimeOffset> SentAt { get; } = [];

        /// <summary>Written when the producer looked the topic up (the record is appended right after, on the same call).</summary>
        public Channel<bool> Appended { get; } = Channel.CreateUnbounded<bool>();

        public Task<TopicInfo> TopicAsync(string topic, TimeSpan timeout, CancellationToken cancellationToken)
        {
            Appended.Writer.TryWrite(true);
            return Task.FromResult(new TopicInfo(topic, Guid.Empty, ErrorCode.None, leaders));
        }

        public Task<ClusterSnapshot> RefreshAsync(IReadOnlyCollection<string> topics, CancellationToken cancellationToken) =>
            Task.FromException<ClusterSnapshot>(new KafkaException(ErrorCode.NetworkException, "no refresh in this test"));

        public Task<InitProducerIdResponse> InitProducerIdAsync(CancellationToken cancellationToken) =>
            Task.FromResult(new InitProducerIdResponse { ProducerId = 1, ProducerEpoch = 0 });

        public Task<ProduceResponse?> ProduceAsync(int node, ProduceRequest request, bool oneWay, CancellationToken cancellationToken)
        {
            var answer = new TaskCompletionSource<ProduceResponse?>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_pending)
            {
                _pending[request] = answer;
                SentAt.Add(time.GetUtcNow());
            }

            cancellationToken.Register(() => answer.TrySetCanceled(cancellationToken));
            Requests.Writer.TryWrite((node, request));
            return answer.Task;
        }

        public void Answer(ProduceRequest request, params (int Partition, long BaseOffset)[] partitions)
        {
            var topic = new ProduceResponse.TopicProduceResponse { Name = request.TopicData[0].Name };
            foreach ((int p, long offset) in partitions)
            {
                topic.PartitionResponses.Add(new ProduceResponse.PartitionProduceResponse { Index = p, ErrorCode = 0, BaseOffset = offset });
            }

            var response = new ProduceResponse();
            response.Responses.Add(topic);
            lock (_pending)
            {
                _pending[request].SetResult(response);
            }
        }

        public void Invalidate()
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
