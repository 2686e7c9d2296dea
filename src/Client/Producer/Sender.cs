using LogBroker.Client.Internal;
using LogBroker.Client.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace LogBroker.Client.Producer;

/// <summary>
/// The producer's send loop: it sleeps until the accumulator has something due (a full batch, a batch
/// that lingered, a retry past its backoff), drains it, and hands each broker's batches to that broker's
/// <see cref="BrokerSink"/>. Requests, metadata refreshes and producer id lookups run as tracked
/// background work.
/// </summary>
internal sealed partial class Sender
{
    private static readonly TimeSpan MaxSleep = TimeSpan.FromMilliseconds(100);
    private readonly ProducerOptions _options;
    private readonly RecordAccumulator _accumulator;
    private readonly ProducerIdState _producerId;
    private readonly IProducerTransport _transport;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly BackgroundWork _work;
    private readonly WakeSignal _wake;
    private readonly Dictionary<int, List<(PartitionQueue Queue, ProducerBatch Batch)>> _byNode = [];
    private readonly Dictionary<int, BrokerSink> _sinks = [];
    private DateTimeOffset _lastMetadata;
    private int _refreshing;
    private int _inFlightRequests;

    public Sender(ProducerOptions options, RecordAccumulator accumulator, ProducerIdState producerId, IProducerTransport transport, ILogger logger, BackgroundWork work)
    {
        _options = options;
        _accumulator = accumulator;
        _producerId = producerId;
        _transport = transport;
        _time = options.TimeProvider;
        _logger = logger;
        _work = work;
        _wake = new WakeSignal(_time);
        _lastMetadata = _time.GetUtcNow();
    }

    public ProducerOptions Options => _options;

    public RecordAccumulator Accumulator => _accumulator;

    public IProducerTransport Transport => _transport;

    public ILogger Logger => _logger;

    public int InFlightRequests => Volatile.Read(ref _inFlightRequests);

    public void Wake() => _wake.Set();

    /// <summary>Runs until the producer is closing and nothing is left, or <paramref name="stop"/> is cancelled.</summary>
    public Task RunAsync(Func<bool> closing, CancellationToken stop) => BackgroundLoop.RunAsync(
        () => StepAsync(closing(), stop),
        e =>
        {
            // A bug must not strand every buffered record: log it and carry on.
            LogSenderFailed(_logger, e);
            return LoopFault.Backoff;
        },
        () => BackgroundLoop.DelayAsync(_options.RetryBackoff, _time, stop),
        stop);

    /// <summary>One turn: drain what is due, send it, then sleep until the next deadline or a wake. False when done.</summary>
    internal async Task<bool> StepAsync(bool closing, CancellationToken stop)
    {
        DateTimeOffset now = _time.GetUtcNow();
        TimeSpan wait = _accumulator.Drain(now, closing, _byNode, out bool needMetadata, MaxSleep);
        if (_byNode.Count > 0)
        {
            if (_producerId.NeedsId)
            {
                await EnsureProducerIdAsync(stop).ConfigureAwait(false);
            }

            foreach (KeyValuePair<int, List<(PartitionQueue, ProducerBatch)>> kv in _byNode)
            {
                if (!_sinks.TryGetValue(kv.Key, out BrokerSink? sink))
                {
                    _sinks[kv.Key] = sink = new BrokerSink(kv.Key, this);
                }

                sink.Send(kv.Value, stop);
            }

            _byNode.Clear();
        }

        if (needMetadata || now - _lastMetadata > _options.MetadataMaxAge)
        {
            _lastMetadata = now;
            RefreshMetadata(stop);
        }

        if (closing && _accumulator.Unfinished == 0 && InFlightRequests == 0)
        {
            return false;
        }

        if (stop.IsCancellationRequested)
        {
            return false;
        }

        try
        {
            await _wake.WaitAsync(wait, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Disposed: the loop sees the stop at its next turn.
        }

        return true;
    }

    /// <summary>Starts a metadata refresh unless one is running.</summary>
    public void RefreshMetadata(CancellationToken stop)
    {
        if (Interlocked.CompareExchange(ref _refreshing, 1, 0) == 0)
        {
            _work.Run(() => RefreshMetadataAsync(stop), "producer metadata refresh");
        }
    }

    private async Task RefreshMetadataAsync(CancellationToken stop)
    {
        try
        {
            ClusterSnapshot snapshot = await _transport.RefreshAsync([.. _accumulator.TopicNames], stop).ConfigureAwait(false);
            _accumulator.Update(snapshot);
            Wake();
        }
        catch (Exception e) when (e is KafkaException or OperationCanceledException)
        {
            LogMetadataFailed(_logger, e.Message);
        }
        finally
        {
            Volatile.Write(ref _refreshing, 0);
        }
    }

    private async Task EnsureProducerIdAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                InitProducerIdResponse r = await _transport.InitProducerIdAsync(stop).ConfigureAwait(false);
                if (r.ErrorCode == 0)
                {
                    _producerId.Set(r.ProducerId, r.ProducerEpoch);
                    _accumulator.ResetSequences();
                    return;
                }

                LogProducerIdFailed(_logger, ((ErrorCode)r.ErrorCode).ToString());
            }
            catch (KafkaException e)
            {
                LogProducerIdFailed(_logger, e.Message);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await BackgroundLoop.DelayAsync(_options.RetryBackoff, _time, stop).ConfigureAwait(false);
        }
    }

    /// <summary>Starts a request as tracked background work.</summary>
    public void Start(Func<Task> request)
    {
        Interlocked.Increment(ref _inFlightRequests);
        _work.Run(async () =>
        {
            try
            {
                await request().ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlightRequests);
                Wake();
            }
        }, "produce request");
    }

    public void StampProducer(PartitionQueue pq, ProducerBatch batch) => _producerId.Stamp(pq, batch);

    [LoggerMessage(EventId = 203, Level = LogLevel.Error, Message = "The producer's send loop failed")]
    private static partial void LogSenderFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "Metadata refresh failed: {Reason}")]
    private static partial void LogMetadataFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "InitProducerId failed: {Reason}")]
    private static partial void LogProducerIdFailed(ILogger logger, string reason);
}
