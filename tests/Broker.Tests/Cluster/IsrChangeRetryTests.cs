using LogBroker.Broker.Replication;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>
/// A refused ISR change with no newer state to follow: the leader tries again after the fetch backoff. A CI run
/// left a partition's ISR at the leader alone for 30 s after both followers came back. The one path found that does
/// that: an expansion asked while a returning follower's registration is not in the store yet (the leader's view
/// still holds the old one) is refused, and as nothing else changes the partition, no newer state lifts the refusal.
/// </summary>
public sealed class IsrChangeRetryTests : IAsyncDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly RefuseFirstSink _sink = new();
    private readonly ReplicationOptions _options = new();
    private readonly OneBrokerReplicas _broker;
    private readonly ReplicaManager _replicas;

    public IsrChangeRetryTests()
    {
        _broker = new OneBrokerReplicas("isr-retry", _sink, new Registered(), _time, _options);
        _replicas = _broker.Replicas;
    }

    public ValueTask DisposeAsync() => _broker.DisposeAsync();

    [Fact]
    public async Task An_expansion_refused_without_a_newer_state_is_asked_again_after_the_fetch_backoff()
    {
        _replicas.Apply(new PartitionState("t", 0, Leader: 1, LeaderEpoch: 1, Replicas: [1, 2], Isr: [1], PartitionEpoch: 1));
        ReplicaPartition partition = _replicas.Find("t", 0)!;

        // Follower 2 is caught up (the log is empty) under its registered broker epoch: the leader asks, and is refused.
        _replicas.OnFollowerFetch(partition, 2, Registered.Epoch, 0);
        await WaitForCallsAsync(1);
        await WaitForAsync(() => !InFlight(partition));

        // Within the backoff it does not ask again, however often the follower fetches.
        _time.Advance(_options.FetchBackoff / 2);
        _replicas.OnFollowerFetch(partition, 2, Registered.Epoch, 0);
        Assert.Equal(1, _sink.Calls);

        // After it, the next fetch asks again, and the ISR grows.
        _time.Advance(_options.FetchBackoff);
        _replicas.OnFollowerFetch(partition, 2, Registered.Epoch, 0);
        await WaitForCallsAsync(2);
        await WaitForAsync(() => Isr(partition).Count == 2);
        Assert.Equal([1, 2], Isr(partition));
    }

    private static bool InFlight(ReplicaPartition p)
    {
        lock (p.Sync)
        {
            return p.IsrChangeInFlight;
        }
    }

    private static IReadOnlyList<int> Isr(ReplicaPartition p)
    {
        lock (p.Sync)
        {
            return p.State!.Isr;
        }
    }

    private Task WaitForCallsAsync(int calls) => WaitForAsync(() => _sink.Calls >= calls);

    private static async Task WaitForAsync(Func<bool> done)
    {
        for (int i = 0; i < 500 && !done(); i++)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        Assert.True(done());
    }

    private sealed class Registered : IBrokerDirectory
    {
        public const long Epoch = 7;

        public bool TryGetEndpoint(int brokerId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out BrokerEndpoint? endpoint)
        {
            endpoint = null;
            return false;
        }

        public long BrokerEpochOf(int brokerId) => Epoch;
    }

    /// <summary>Refuses the first change (the joiner was not registered in the store yet), records every later one.</summary>
    private sealed class RefuseFirstSink : IIsrChangeSink
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public Task<PartitionState?> AlterIsrAsync(PartitionState current, IReadOnlyList<int> newIsr, CancellationToken cancellationToken) =>
            Task.FromResult(Interlocked.Increment(ref _calls) == 1
                ? null
                : current with { Isr = [.. newIsr], PartitionEpoch = current.PartitionEpoch + 1 });
    }
}
