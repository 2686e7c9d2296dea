using System.Collections.Concurrent;
using LogBroker.Broker.Producers;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Records;
using LogBroker.Storage;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Replication;

/// <summary>
/// Fetches, for every partition this broker follows under one leader, what the leader has (Kafka's
/// AbstractFetcherThread): a partition first truncates its log where OffsetForLeaderEpoch says its last epoch ends at
/// the leader (never by high watermark alone, KIP-101/279), then is fetched with this broker's replica id and broker
/// epoch (Fetch v15, KIP-903) from its log end offset; the batches are appended as the leader wrote them, and the
/// follower takes the leader's high watermark. One loop, one connection, one request in flight.
/// </summary>
internal sealed partial class ReplicaFetcher : IAsyncDisposable
{
    private const short FetchVersion = 15;
    private const short OffsetForLeaderEpochVersion = 3;
    private const short MetadataVersion = 12;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    private readonly int _leaderId;
    private readonly ProducerStates _producers;
    private readonly int _localId;
    private readonly IBrokerDirectory _directory;
    private readonly ReplicationOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<ReplicaPartition, Target> _targets = new();
    private readonly Dictionary<string, Guid> _topicIds = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop;
    private readonly Task _loop;
    private ReplicaClient? _client;

    public ReplicaFetcher(int leaderId, ProducerStates producers, int localId, IBrokerDirectory directory,
        ReplicationOptions options, TimeProvider time, ILogger logger, CancellationToken stopping)
    {
        _time = time;
        _leaderId = leaderId;
        _producers = producers;
        _localId = localId;
        _directory = directory;
        _options = options;
        _logger = logger;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _loop = Task.Run(RunAsync, CancellationToken.None); // the loop itself watches the token
    }

    /// <summary>Follows <paramref name="p"/> under this leader in <paramref name="leaderEpoch"/>: truncation first. Caller: p.Sync.</summary>
    public void Add(ReplicaPartition p, int leaderEpoch) => _targets[p] = new Target(leaderEpoch);

    /// <summary>Stops following <paramref name="p"/> here (the fetch in flight, if any, is not applied). Caller: p.Sync.</summary>
    public void Remove(ReplicaPartition p)
    {
        if (_targets.TryRemove(p, out Target? target))
        {
            target.Removed = true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        if (_client is not null)
        {
            await _client.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        CancellationToken token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            bool progressed = false;
            try
            {
                if (_targets.IsEmpty)
                {
                    await Task.Delay(100, token).ConfigureAwait(false);
                    continue;
                }

                if (_client is { } current && _time.GetTimestamp() >= current.ReconnectBy)
                {
                    await DropConnectionAsync().ConfigureAwait(false); // before the leader ends the SASL session
                }

                _client ??= await ConnectAsync(token).ConfigureAwait(false);
                if (_client is null)
                {
                    await Task.Delay(_options.FetchBackoff, token).ConfigureAwait(false);
                    continue;
                }

                await TruncateAsync(_client, token).ConfigureAwait(false);
                progressed = await FetchAsync(_client, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                FetchFailed(_logger, _leaderId, e.Message);
                await DropConnectionAsync().ConfigureAwait(false);
            }

            if (!progressed)
            {
                // Nothing fetchable (every partition refused, waiting for a new state, or not materialised yet).
                await Task.Delay(_options.FetchBackoff, token).ConfigureAwait(false);
            }
        }
    }

    private async Task<ReplicaClient?> ConnectAsync(CancellationToken token)
    {
        if (!_directory.TryGetEndpoint(_leaderId, out BrokerEndpoint? endpoint))
        {
            return null;
        }

        _topicIds.Clear();
        return await ReplicaClient.ConnectAsync(endpoint, _options.InterBroker, _time, 128 * 1024 * 1024, $"replica-{_localId}", token).ConfigureAwait(false);
    }

    private async Task DropConnectionAsync()
    {
        if (_client is { } client)
        {
            _client = null;
            await client.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Truncates every partition that needs it, from one OffsetForLeaderEpoch request.</summary>
    private async Task TruncateAsync(ReplicaClient client, CancellationToken token)
    {
        var request = new OffsetForLeaderEpochRequest { ReplicaId = _localId };
        var asked = new Dictionary<(string, int), (ReplicaPartition P, Target T, int Epoch)>();
        foreach ((ReplicaPartition p, Target target) in _targets)
        {
            if (!target.NeedsTruncation || p.Log is not { } log)
            {
                continue;
            }

            int epoch = log.LeaderEpochs.LatestEpoch;
            if (epoch < 0)
            {
                // No epoch known here: only an empty log, or one written before epochs, can be in this state.
                lock (p.Sync)
                {
                    if (!target.Removed && log.LogEndOffset > log.HighWatermark)
                    {
                        Truncate(p, log, log.HighWatermark);
                    }

                    target.NeedsTruncation = false;
                }

                continue;
            }

            OffsetForLeaderEpochRequest.OffsetForLeaderTopic? topic = request.Topics.Find(t => t.Topic == p.Topic);
            if (topic is null)
            {
                topic = new OffsetForLeaderEpochRequest.OffsetForLeaderTopic { Topic = p.Topic };
                request.Topics.Add(topic);
            }

            topic.Partitions.Add(new OffsetForLeaderEpochRequest.OffsetForLeaderPartition
            {
                Partition = p.Partition,
                CurrentLeaderEpoch = target.LeaderEpoch,
                LeaderEpoch = epoch,
            });
            asked[(p.Topic, p.Partition)] = (p, target, epoch);
        }

        if (asked.Count == 0)
        {
            return;
        }

        OffsetForLeaderEpochResponse response = await client.SendAsync<OffsetForLeaderEpochResponse>(
            ApiKey.OffsetForLeaderEpoch, OffsetForLeaderEpochVersion, request, RequestTimeout, token).ConfigureAwait(false);
        foreach (OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult topic in response.Topics)
        {
            foreach (OffsetForLeaderEpochResponse.EpochEndOffset result in topic.Partitions)
            {
                if (!asked.TryGetValue((topic.Topic, result.Partition), out var entry) || result.ErrorCode != 0)
                {
                    continue; // fenced, unknown epoch, not the leader (yet): asked again after the backoff
                }

                lock (entry.P.Sync)
                {
                    if (entry.T.Removed || entry.P.Log is not { } log)
                    {
                        continue;
                    }

                    Truncate(entry.P, log, TruncationOffset(log, entry.Epoch, result.LeaderEpoch, result.EndOffset));
                    entry.T.NeedsTruncation = false;
                }
            }
        }
    }

    /// <summary>
    /// Where the follower's log must end (Kafka's truncation rule): the leader's end of our last epoch when it knows
    /// that epoch; when it answers an older epoch, the smaller of its end and ours for that epoch; an answer of no
    /// epoch at all leaves only the high watermark to trust.
    /// </summary>
    private static long TruncationOffset(PartitionLog log, int askedEpoch, int leaderEpoch, long leaderEndOffset)
    {
        if (leaderEpoch < 0 || leaderEndOffset < 0)
        {
            return log.HighWatermark;
        }

        if (leaderEpoch == askedEpoch)
        {
            return Math.Min(leaderEndOffset, log.LogEndOffset);
        }

        (int ourEpoch, long ourEnd) = log.EndOffsetForEpoch(leaderEpoch);
        return ourEpoch < 0 || ourEnd < 0 ? Math.Min(leaderEndOffset, log.HighWatermark) : Math.Min(leaderEndOffset, ourEnd);
    }

    /// <summary>Caller: p.Sync. Producer state is rebuilt from the truncated log when next needed.</summary>
    private void Truncate(ReplicaPartition p, PartitionLog log, long offset)
    {
        long before = log.LogEndOffset;
        if (offset >= before)
        {
            return;
        }

        long end = log.TruncateTo(offset);
        _producers.Forget(log);
        Truncated(_logger, p.Topic, p.Partition, before, end);
    }

    /// <summary>One fetch for every partition ready for it; true when one was sent.</summary>
    private async Task<bool> FetchAsync(ReplicaClient client, CancellationToken token)
    {
        var request = new FetchRequest
        {
            ReplicaState = new FetchRequest.ReplicaStateData { ReplicaId = _localId, ReplicaEpoch = _directory.BrokerEpochOf(_localId) },
            MaxWaitMs = (int)_options.FetchMaxWait.TotalMilliseconds,
            MinBytes = 1,
            MaxBytes = 16 * _options.FetchMaxBytes,
        };
        var sent = new Dictionary<(string, int), (ReplicaPartition P, Target T)>();
        List<string>? unknownIds = null;
        foreach ((ReplicaPartition p, Target target) in _targets)
        {
            if (target.NeedsTruncation || p.Log is not { } log)
            {
                continue;
            }

            if (!_topicIds.TryGetValue(p.Topic, out Guid id))
            {
                (unknownIds ??= []).Add(p.Topic);
                continue;
            }

            FetchRequest.FetchTopic? topic = request.Topics.Find(t => t.TopicId == id);
            if (topic is null)
            {
                topic = new FetchRequest.FetchTopic { Topic = p.Topic, TopicId = id };
                request.Topics.Add(topic);
            }

            topic.Partitions.Add(new FetchRequest.FetchPartition
            {
                Partition = p.Partition,
                CurrentLeaderEpoch = target.LeaderEpoch,
                FetchOffset = log.LogEndOffset,
                LogStartOffset = log.LogStartOffset,
                PartitionMaxBytes = _options.FetchMaxBytes,
            });
            sent[(p.Topic, p.Partition)] = (p, target);
        }

        if (unknownIds is not null)
        {
            await LearnTopicIdsAsync(client, unknownIds, token).ConfigureAwait(false);
        }

        if (sent.Count == 0)
        {
            return unknownIds is not null && unknownIds.TrueForAll(_topicIds.ContainsKey);
        }

        FetchResponse response = await client.SendAsync<FetchResponse>(ApiKey.Fetch, FetchVersion, request,
            RequestTimeout + _options.FetchMaxWait, token).ConfigureAwait(false);
        bool anyServed = false;
        foreach (FetchResponse.FetchableTopicResponse topic in response.Responses)
        {
            string? name = NameOf(topic.TopicId);
            foreach (FetchResponse.PartitionData data in topic.Partitions)
            {
                if (name is null || !sent.TryGetValue((name, data.PartitionIndex), out var entry))
                {
                    continue;
                }

                anyServed |= Apply(entry.P, entry.T, data, name);
            }
        }

        return anyServed;
    }

    /// <summary>Appends a partition's fetched batches as follower and takes the leader's high watermark; true when served.</summary>
    private bool Apply(ReplicaPartition p, Target target, FetchResponse.PartitionData data, string topic)
    {
        switch ((ErrorCode)data.ErrorCode)
        {
            case ErrorCode.None:
                break;
            case ErrorCode.OffsetOutOfRange:
                target.NeedsTruncation = true; // ahead of the leader: where our epoch ends there says where to cut
                return true;
            case ErrorCode.UnknownTopicId:
                _topicIds.Remove(topic);
                return false;
            default:
                return false; // fenced, not leader, unknown epoch: wait for the next state (after the backoff)
        }

        lock (p.Sync)
        {
            if (target.Removed || p.Log is not { } log)
            {
                return false;
            }

            ReadOnlySpan<byte> records = data.Records.GetValueOrDefault().Span;
            while (records.Length >= RecordBatch.HeaderSize && RecordBatch.TryReadSize(records, out int size) && size <= records.Length)
            {
                AppendResult appended = log.AppendAsFollower(records[..size], out RecordBatchHeader header);
                if (appended.Status == AppendStatus.OffsetMismatch)
                {
                    target.NeedsTruncation = true;
                    break;
                }

                if (appended.Status != AppendStatus.Success)
                {
                    CorruptBatch(_logger, p.Topic, p.Partition, _leaderId, appended.Validation.ToString());
                    break;
                }

                if (header.ProducerId >= 0)
                {
                    ProducerStateTable state = _producers.For(log);
                    lock (state.Sync)
                    {
                        state.Record(header, header.BaseOffset); // a new leader must recognise the producers' retries
                    }
                }

                records = records[size..];
            }

            log.AdvanceHighWatermark(Math.Min(data.HighWatermark, log.LogEndOffset));

            // The leader's log start moved (DeleteRecords, a compacted offsets partition): follow it, as far as this
            // replica's own high watermark (Kafka's maybeIncrementLogStartOffset on the follower).
            long start = Math.Min(data.LogStartOffset, log.HighWatermark);
            if (start > log.LogStartOffset)
            {
                log.DeleteRecordsBefore(start);
            }
        }

        return true;
    }

    private async Task LearnTopicIdsAsync(ReplicaClient client, List<string> names, CancellationToken token)
    {
        var request = new MetadataRequest { AllowAutoTopicCreation = false, Topics = [] };
        foreach (string name in names)
        {
            if (!request.Topics.Exists(t => t.Name == name))
            {
                request.Topics.Add(new MetadataRequest.MetadataRequestTopic { Name = name });
            }
        }

        MetadataResponse response = await client.SendAsync<MetadataResponse>(ApiKey.Metadata, MetadataVersion, request, RequestTimeout, token).ConfigureAwait(false);
        foreach (MetadataResponse.MetadataResponseTopic topic in response.Topics)
        {
            if (topic.ErrorCode == 0 && topic.Name is { } name && topic.TopicId != Guid.Empty)
            {
                _topicIds[name] = topic.TopicId;
            }
        }
    }

    private string? NameOf(Guid id)
    {
        foreach ((string name, Guid known) in _topicIds)
        {
            if (known == id)
            {
                return name;
            }
        }

        return null;
    }

    /// <summary>A partition as this fetcher follows it.</summary>
    private sealed class Target(int leaderEpoch)
    {
        public int LeaderEpoch { get; } = leaderEpoch;

        private volatile bool _needsTruncation = true;
        private volatile bool _removed;

        /// <summary>The log must be truncated (OffsetForLeaderEpoch) before the next fetch.</summary>
        public bool NeedsTruncation
        {
            get => _needsTruncation;
            set => _needsTruncation = value;
        }

        /// <summary>No longer followed here: a response in flight is dropped.</summary>
        public bool Removed
        {
            get => _removed;
            set => _removed = value;
        }
    }

    [LoggerMessage(EventId = 1511, Level = LogLevel.Warning, Message = "Replica fetch from broker {Leader} failed: {Reason}; reconnecting")]
    private static partial void FetchFailed(ILogger logger, int leader, string reason);

    [LoggerMessage(EventId = 1512, Level = LogLevel.Information, Message = "Truncated {Topic}-{Partition} from {Before} to {After} (OffsetForLeaderEpoch)")]
    private static partial void Truncated(ILogger logger, string topic, int partition, long before, long after);

    [LoggerMessage(EventId = 1513, Level = LogLevel.Error, Message = "Broker {Leader} sent an invalid batch for {Topic}-{Partition} ({Reason}); fetching it again")]
    private static partial void CorruptBatch(ILogger logger, string topic, int partition, int leader, string reason);
}
