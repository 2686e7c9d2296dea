using LogBroker.Client.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace LogBroker.Client.Consumer;

/// <summary>
/// One broker's fetch loop: fetches every assigned partition this broker leads, one request at a time,
/// while the shared prefetch bound has room, and hands the batches to the consumer's queue.
/// </summary>
internal sealed partial class FetchSource(int node, Fetcher fetcher)
{
    private static readonly TimeSpan IdleWait = TimeSpan.FromMilliseconds(100);
    private readonly ConsumerOptions _options = fetcher.Options;
    private readonly AssignmentState _assignment = fetcher.Assignment;
    private readonly WakeSignal _wake = new(fetcher.Options.TimeProvider);
    private readonly List<FetchTarget> _targets = [];

    public int Node => node;

    public void Wake() => _wake.Set();

    /// <summary>One fetch (or an idle wait when nothing is fetchable or the prefetch bound is full).</summary>
    public async Task<bool> StepAsync()
    {
        _targets.Clear();
        if (fetcher.HasRoom)
        {
            _assignment.Fetchable(node, _targets);
        }

        if (_targets.Count == 0)
        {
            await _wake.WaitAsync(IdleWait, fetcher.Stopping).ConfigureAwait(false);
            return true;
        }

        try
        {
            await FetchAsync(_targets).ConfigureAwait(false);
        }
        catch (KafkaException)
        {
            // The broker failed or left: its partitions look their leaders up again.
            foreach (FetchTarget t in _targets)
            {
                fetcher.LeaderMoved(t.Partition);
            }

            fetcher.Cluster.Invalidate();
            throw;
        }

        return true;
    }

    private async Task FetchAsync(List<FetchTarget> partitions)
    {
        var request = new FetchRequest
        {
            ReplicaId = -1,
            MaxWaitMs = (int)_options.FetchMaxWait.TotalMilliseconds,
            MinBytes = _options.FetchMinBytes,
            MaxBytes = _options.FetchMaxBytes,
            IsolationLevel = 0,
            SessionId = 0,
            SessionEpoch = -1,
            RackId = "",
        };
        var byTopic = new Dictionary<string, FetchRequest.FetchTopic>(StringComparer.Ordinal);
        var requested = new Dictionary<TopicPartition, (long Offset, int Epoch)>(partitions.Count);
        foreach (FetchTarget target in partitions)
        {
            TopicPartition tp = target.Partition;
            if (!byTopic.TryGetValue(tp.Topic, out FetchRequest.FetchTopic? t))
            {
                byTopic[tp.Topic] = t = new FetchRequest.FetchTopic { Topic = tp.Topic };
                request.Topics.Add(t);
            }

            t.Partitions.Add(new FetchRequest.FetchPartition
            {
                Partition = tp.Partition,
                FetchOffset = target.Offset,
                CurrentLeaderEpoch = -1,
                LastFetchedEpoch = -1,
                LogStartOffset = -1,
                PartitionMaxBytes = _options.MaxPartitionFetchBytes,
            });
            requested[tp] = (target.Offset, target.Epoch);
        }

        CancellationToken stop = fetcher.Stopping;
        BrokerConnection connection = await fetcher.Cluster.ConnectionAsync(node, stop).ConfigureAwait(false);
        short version = connection.RequireVersion(ApiKey.Fetch);
        using ResponseFrame frame = await connection.SendRawAsync(ApiKey.Fetch, version, request, stop).ConfigureAwait(false);
        FetchResponse response = frame.ParseZeroCopy<FetchResponse>();
        if (response.ErrorCode != 0)
        {
            throw new KafkaException((ErrorCode)response.ErrorCode, $"Fetch from broker {node} failed: {(ErrorCode)response.ErrorCode}.");
        }

        bool refreshMetadata = false;
        foreach (FetchResponse.FetchableTopicResponse t in response.Responses)
        {
            foreach (FetchResponse.PartitionData p in t.Partitions)
            {
                var tp = new TopicPartition(t.Topic, p.PartitionIndex);
                if (!requested.TryGetValue(tp, out (long Offset, int Epoch) asked))
                {
                    continue;
                }

                var error = (ErrorCode)p.ErrorCode;
                if (error == ErrorCode.OffsetOutOfRange)
                {
                    if (_assignment.ResetOutOfRange(tp, asked.Epoch))
                    {
                        LogOutOfRange(fetcher.Logger, tp, asked.Offset);
                        fetcher.Wake();
                    }

                    continue;
                }

                if (error != ErrorCode.None)
                {
                    if (error.IsRetriable())
                    {
                        refreshMetadata = true;
                        fetcher.LeaderMoved(tp);
                    }
                    else
                    {
                        LogPartitionError(fetcher.Logger, tp, error.ToString());
                    }

                    continue;
                }

                var batch = new ConsumeBatch(tp) { Epoch = asked.Epoch, HighWatermark = p.HighWatermark };
                batch.Start(frame, asked.Offset);
                bool ok = p.Records is not { } records || batch.AddBatches(records, _options.CheckCrcs, Math.Max(_options.FetchMaxBytes, 64 * 1024 * 1024));
                bool? current = _assignment.Fetched(tp, asked.Offset, asked.Epoch, p.HighWatermark, ok, batch.NextFetchOffset);
                if (current == false)
                {
                    fetcher.Corrupt(new KafkaException(ErrorCode.CorruptMessage, $"A corrupt record batch was fetched from {tp} at offset {asked.Offset}."));
                }

                if (current == true && batch.Count > 0)
                {
                    fetcher.Deliver(batch);
                }
                else
                {
                    batch.Release();
                }
            }
        }

        if (refreshMetadata)
        {
            fetcher.Cluster.Invalidate();
        }
    }

    [LoggerMessage(EventId = 303, Level = LogLevel.Information, Message = "Offset {Offset} of {Partition} is out of range; resetting")]
    private static partial void LogOutOfRange(ILogger logger, TopicPartition partition, long offset);

    [LoggerMessage(EventId = 304, Level = LogLevel.Warning, Message = "Fetching {Partition} failed: {Error}")]
    private static partial void LogPartitionError(ILogger logger, TopicPartition partition, string error);
}
