using LogBroker.Client.Network;
using LogBroker.Client.Producer;
using LogBroker.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Client.Tests;

/// <summary>
/// The producer's batching and result policy on a fake clock: linger, batch size, one batch in flight per
/// partition, retry backoff, the delivery timeout and buffer memory. No sockets, no sleeps.
/// </summary>
public sealed class RecordAccumulatorTests
{
    private static readonly TimeSpan MaxWait = TimeSpan.FromMilliseconds(100);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly Dictionary<int, List<(PartitionQueue Queue, ProducerBatch Batch)>> _byNode = [];
    private int _wakes;

    private ProducerOptions Options(TimeSpan? linger = null, int batchSize = 1_000_000) => new()
    {
        TimeProvider = _time,
        Linger = linger ?? TimeSpan.FromMilliseconds(5),
        BatchSize = batchSize,
        RetryBackoff = TimeSpan.FromMilliseconds(100),
        DeliveryTimeout = TimeSpan.FromSeconds(1),
        EnableIdempotence = false,
        Acks = Acks.Leader,
    };

    private (RecordAccumulator Accumulator, BufferMemory Memory, TopicState Topic) Create(ProducerOptions options, params int[] leaders)
    {
        var memory = new BufferMemory(options.BufferMemory);
        var accumulator = new RecordAccumulator(options, memory, new ProducerIdState(options.EnableIdempotence), _time, () => _wakes++);
        TopicState topic = accumulator.Update(new TopicInfo("t", Guid.Empty, ErrorCode.None, leaders));
        return (accumulator, memory, topic);
    }

    private static RecordCompletion Append(RecordAccumulator accumulator, BufferMemory memory, TopicState topic, int partition, int valueBytes = 10)
    {
        var record = new ProducerRecord(null, new byte[valueBytes]) { Partition = partition };
        int charge = ProducerBatch.FixedSize(record) + ProducerBatch.MaxFraming;
        Assert.True(memory.TryReserve(charge));
        RecordCompletion completion = RecordCompletion.Rent();
        accumulator.Append(topic, record, accumulator.Timestamp(null), completion, charge, batchCall: false);
        return completion;
    }

    private TimeSpan Drain(RecordAccumulator accumulator, out bool needMetadata, bool closing = false)
    {
        _byNode.Clear();
        return accumulator.Drain(_time.GetUtcNow(), closing, _byNode, out needMetadata, MaxWait);
    }

    private int Drained => _byNode.Values.Sum(l => l.Count);

    [Fact]
    public void A_batch_is_held_for_linger_and_drained_once_it_has_lingered()
    {
        (RecordAccumulator acc, BufferMemory memory, TopicState topic) = Create(Options(), 7);
        Append(acc, memory, topic, 0);

        Assert.Equal(TimeSpan.FromMilliseconds(5), Drain(acc, out _));
        Assert.Equal(0, Drained);
        _time.Advance(TimeSpan.FromMilliseconds(4));
        Assert.Equal(TimeSpan.FromMilliseconds(1), Drain(acc, out _));
        Assert.Equal(0, Drained);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Drain(acc, out _);
        (PartitionQueue queue, ProducerBatch batch) = Assert.Single(_byNode[7]);
        Assert.Equal(new TopicPartition("t", 0), queue.Partition);
        Assert.Equal(1, batch.Count);
    }

    [Fact]
    public void The_first_batch_of_an_idle_producer_wakes_the_sender_so_it_can_sleep_until_the_linger_ends()
    {
        (RecordAccumulator acc, BufferMemory memory, TopicState topic) = Create(Options(), 7);
        Append(acc, memory, topic, 0);
        Assert.Equal(1, _wakes);
        Append(acc, memory, topic, 0); // same open batch: no new deadline
        Assert.Equal(1, _wakes);
    }

    [Fact]
    public void A_full_batch_is_drained_without_waiting_for_linger()
    {
        (RecordAccumulator acc, BufferMemory memory, TopicState topic) = Create(Options(linger: TimeSpan.FromMinutes(1), batchSize: 100), 7);
        Append(acc, memory, topic, 0, valueBytes: 200);

        Drain(acc, out _);
        Assert.Single(_byNode[7]);
    }

    [Fact]
    public void Closing_drains_open_batches_before_their_linger_ends()
    {
        (RecordAccumulator acc, BufferMemory memory, TopicState topic) = Create(Options(linger: TimeSpan.FromMinutes(1)), 7, 7);
        Append(acc, memory, topic, 0);
        Append(acc, memory, topic, 1);

        Drain(acc, out _, closing: true);
        Assert.Equal(2, _byNode[7].Count);
    }

    [Fact]
    public async Task A_partition_has_one_batch_in_flight_and_the_next_goes_when_the_first_is_acknowledged()
    {
        (RecordAccumulator acc, BufferMemory memory, TopicState topic) = Create(Options(), 7);
        RecordCompletion first = Append(acc, memory, topic, 0);
        _time.Advance(TimeSpan.FromMilliseconds(5));
        Drain(acc, out _);
        (PartitionQueue queue, ProducerBatch batch) = Assert.Single(_byNode[7]);

        Append(acc, memory, topic, 0);
        _time.Advance(TimeSpan.FromMilliseconds(5));
        Drain(acc, out _);
        Assert.Equal(0, Drained);

        Assert.Equal(BatchOutcome.Delivered, acc.Complete(queue, batch, ErrorCode.None, 42, null, stopping: false));
        Assert.True(first.Task.IsCompletedSuccessfully);
        Assert.Equal(42, (await first.Task).Offset);
        Drain(acc, out _);
        Assert.Single(_byNode[7]);
    }

    [Fact]
    public void A_retriable_error_sends_the_batch_again_after_the_retry_backoff()
    {
        (RecordAccumulator acc, BufferMemory memory, TopicState topic) = Create(Options(), 7);
        RecordCompletion completion = Append(acc, memory, topic, 0);
        _time.Advance(TimeSpan.FromMilliseconds(5));
        Drain(acc, out _);
        (PartitionQueue queue, ProducerBatch batch) = Assert.Single(_byNode[7]);

        Assert.Equal(BatchOutcome.RetriedAfterMetadata, acc.Complete(queue, batch, ErrorCode.NotLeaderOrFollower, -1, null, stopping: false));
        Assert.Equal(TimeSpan.FromMilliseconds(100), Drain(acc, out _));
        Assert.Equal(0, Drained);
        _time.Advance(TimeSpan.FromMilliseconds(99));
        Assert.Equal(TimeSpan.FromMilliseconds(1), Drain(acc, out _));
        Assert.Equal(0, Drained);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Drain(acc, out _);
        Assert.Same(batch, Assert.Single(_byNode[7]).Batch);
        Assert.False(completion.Task.IsCompleted);
    }

    [Fact]
    public async Task A_retriable_error_after_the_delivery_timeout_fails_the_records_as_timed_out()
    {
        (RecordAccumulator acc, BufferMemory memory, TopicState topic) = Create(Options(), 7);
        RecordCompletion completion = Append(acc, memory, topic, 0);
        _time.Advance(TimeSpan.FromMilliseconds(5));
        Drain(acc, out _);
        (PartitionQueue queue, ProducerBatch batch) = Assert.Single(_byNode[7]);

        _time.Advance(TimeSpan.FromMilliseconds(895)); // 900 ms after the batch was opened
        Assert.Equal(BatchOutcome.Retried, acc.Complete(queue, batch, ErrorCode.RequestTimedOut, -1, null, stopping: false));
        _time.Advance(TimeSpan.FromMilliseconds(100)); // 1 s: due again, and not over the timeout yet
        Drain(acc, out _);
        (queue, batch) = Assert.Single(_byNode[7]);

        _time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.Equal(BatchOutcome.Failed, acc.Complete(queue, batch, ErrorCode.RequestTimedOut, -1, null, stopping: false));
        Assert.True(completion.Task.IsCompleted);
        var error = await Assert.ThrowsAsync<ProduceException>(async () => await completion.Task);
        Assert.Equal(ErrorCode.RequestTimedOut, error.ErrorCode);
        Assert.Contains("timed out", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, memory.Used);
    }

    [Fact]
    public async Task A_batch_waiting_for_a_leader_asks_for_metadata_and_fails_once_the_delivery_timeout_passes()
    {
        (RecordAccumulator acc, BufferMemory memory, TopicState topic) = Create(Options(), -1);
        RecordCompletion completion = Append(acc, memory, topic, 0);
        _time.Advance(TimeSpan.FromMilliseconds(5));
        Drain(acc, out bool needMetadata);
        Assert.True(needMetadata);
        Assert.Equal(0, Drained);

        _time.Advance(TimeSpan.FromMilliseconds(990)); // 995 ms old
        Drain(acc, out needMetadata);
        Assert.True(needMetadata);
        Assert.False(completion.Task.IsCompleted);

        _time.Advance(TimeSpan.FromMilliseconds(10));
        Drain(acc, out _);
        Assert.True(completion.Task.IsCompleted);
        Assert.Equal(ErrorCode.RequestTimedOut, (await Assert.ThrowsAsync<ProduceException>(async () => await completion.Task)).ErrorCode);
        Assert.Equal(0, acc.Unfinished);
    }

    [Fact]
    public async Task A_non_retriable_error_fails_the_records_at_once_with_that_error()
    {
        (RecordAccumulator acc, BufferMemory memory, TopicState topic) = Create(Options(), 7);
        RecordCompletion completion = Append(acc, memory, topic, 0);
        _time.Advance(TimeSpan.FromMilliseconds(5));
        Drain(acc, out _);
        (PartitionQueue queue, ProducerBatch batch) = Assert.Single(_byNode[7]);

        Assert.Equal(BatchOutcome.Failed, acc.Complete(queue, batch, ErrorCode.RecordListTooLarge, -1, "too big", stopping: false));
        Assert.Equal(ErrorCode.RecordListTooLarge, (await Assert.ThrowsAsync<ProduceException>(async () => await completion.Task)).ErrorCode);
    }

    [Fact]
    public void Only_partitions_with_work_are_drained_and_each_once()
    {
        int[] leaders = new int[10_000];
        for (int i = 0; i < leaders.Length; i++)
        {
            leaders[i] = i % 3;
        }

        (RecordAccumulator acc, BufferMemory memory, TopicState topic) = Create(Options(), leaders);
        Append(acc, memory, topic, 9_999);
        Append(acc, memory, topic, 5);
        Append(acc, memory, topic, 5);
        _time.Advance(TimeSpan.FromMilliseconds(5));
        Drain(acc, out _);
        Assert.Equal(2, Drained);
        Assert.Equal(2, _byNode[2].Single(e => e.Queue.Partition.Partition == 5).Batch.Count);
        Assert.Single(_byNode[0]);

        Drain(acc, out _);
        Assert.Equal(0, Drained);
    }

    [Fact]
    public async Task Buffer_memory_refuses_a_reservation_beyond_the_limit_until_bytes_are_released()
    {
        var memory = new BufferMemory(1000);
        Assert.True(memory.TryReserve(600));
        Assert.False(memory.TryReserve(600));
        Task waiting = memory.ReserveAsync(600, TestContext.Current.CancellationToken).AsTask();
        Assert.False(waiting.IsCompleted);

        memory.Release(600);
        await waiting.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(600, memory.Used);
    }

    [Fact]
    public void Buffer_memory_takes_a_record_larger_than_the_limit_when_nothing_else_is_buffered()
    {
        var memory = new BufferMemory(1000);
        Assert.True(memory.TryReserve(5000));
        Assert.False(memory.TryReserve(1));
    }
}
