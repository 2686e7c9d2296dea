using LogBroker.Broker.Handlers;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Producers;
using LogBroker.Broker.Replication;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Storage;
using LogBroker.TestKit;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>
/// An acks=all write waiting for its followers on a leader that is deposed meanwhile: the real replica manager and
/// Produce handler of one broker, the control plane played by hand (the states it would apply). As a follower the
/// broker truncates and takes its new leader's high watermark, which passes the write's offset with the new leader's
/// records there; the write must not be acknowledged (it is not in the log any more).
/// </summary>
public sealed class DeposedLeaderTests : IAsyncDisposable
{
    private readonly OneBrokerReplicas _broker = new("deposed", new RefusingIsrSink(), new NoBrokers(), TimeProvider.System, new ReplicationOptions());
    private readonly TopicRegistry _topics;
    private readonly ReplicaManager _replicas;

    public DeposedLeaderTests()
    {
        _topics = _broker.Topics;
        _replicas = _broker.Replicas;
    }

    public ValueTask DisposeAsync() => _broker.DisposeAsync();

    [Fact]
    public async Task A_write_pending_when_its_leader_is_deposed_is_not_acknowledged_when_the_new_leaders_high_watermark_passes_it()
    {
        (_, _, ValueTask<ProduceResponse?> pending) = StartAcksAllWrite();

        // The controller deposes broker 1 (say it was paused past its lease; 2 was in the ISR and is elected without
        // the write). Broker 1 follows 2 from now on: it truncates to where the logs diverge and appends 2's records.
        _replicas.Apply(new PartitionState("t", 0, Leader: 2, LeaderEpoch: 2, Replicas: [1, 2], Isr: [2], PartitionEpoch: 2));
        PartitionLog log = _topics.Partition("t", 0)!;
        Assert.Equal(3, log.LogEndOffset);
        log.TruncateTo(0);
        Assert.Equal(AppendStatus.Success, log.AppendAsFollower(Batches.Create(5, tag: "new-leader"), out _).Status);
        Assert.True(log.AdvanceHighWatermark(5)); // the new leader's high watermark, now past the lost write's offsets

        ProduceResponse? response = await pending.AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        ProduceResponse.PartitionProduceResponse answer = response!.Responses[0].PartitionResponses[0];
        Assert.Equal(ErrorCode.NotLeaderOrFollower, (ErrorCode)answer.ErrorCode);
        Assert.Equal(-1, answer.BaseOffset);
    }

    [Fact]
    public async Task A_write_is_acknowledged_once_the_isr_has_it_while_its_leader_still_leads_and_not_before()
    {
        (ProduceHandler handler, RequestContext context, ValueTask<ProduceResponse?> pending) = StartAcksAllWrite();

        // Another producer's append wakes the partition's waiters: the write still waits for its follower.
        var other = await handler.HandleAsync(context, RequestFrames.Produce("t", 0, Batches.Create(2), acks: 1));
        Assert.Equal(3, other!.Responses[0].PartitionResponses[0].BaseOffset);
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.False(pending.IsCompleted);

        // Follower 2 fetches from offset 3: it has the three records, and the high watermark passes them.
        ReplicaPartition partition = _replicas.Find("t", 0)!;
        _replicas.OnFollowerFetch(partition, 2, -1, 3);
        ProduceResponse? response = await pending.AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        ProduceResponse.PartitionProduceResponse answer = response!.Responses[0].PartitionResponses[0];
        Assert.Equal(ErrorCode.None, (ErrorCode)answer.ErrorCode);
        Assert.Equal(0, answer.BaseOffset);
    }

    /// <summary>Broker 1 leads t-0 in epoch 1 with follower 2 in the ISR; an acks=all write of three records waits for 2.</summary>
    private (ProduceHandler Handler, RequestContext Context, ValueTask<ProduceResponse?> Pending) StartAcksAllWrite()
    {
        _replicas.Apply(new PartitionState("t", 0, Leader: 1, LeaderEpoch: 1, Replicas: [1, 2], Isr: [1, 2], PartitionEpoch: 1));
        var handler = new ProduceHandler(_topics, new ProducerStates(), new BrokerOptions { NodeId = 1, FlushOnAcksAll = false }, TimeProvider.System,
            replicas: _replicas);
        var context = new RequestContext([], 0, new RequestHeader((short)ApiKey.Produce, 9, 1, "test"), "test");
        ValueTask<ProduceResponse?> pending = handler.HandleAsync(context, RequestFrames.Produce("t", 0, Batches.Create(3), acks: -1, timeoutMs: 20_000));
        Assert.False(pending.IsCompleted); // follower 2 has not fetched it
        return (handler, context, pending);
    }

    private sealed class NoBrokers : IBrokerDirectory
    {
        public bool TryGetEndpoint(int brokerId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out BrokerEndpoint? endpoint)
        {
            endpoint = null;
            return false;
        }
    }

    private sealed class RefusingIsrSink : IIsrChangeSink
    {
        public Task<PartitionState?> AlterIsrAsync(PartitionState current, IReadOnlyList<int> newIsr, CancellationToken cancellationToken) =>
            Task.FromResult<PartitionState?>(null);
    }
}
