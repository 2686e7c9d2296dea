using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Quotas;
using LogBroker.Broker.Replication;
using LogBroker.Broker.Security;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using LogBroker.Storage;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// Fetch (key 1), versions 4–17 (v0–3 need message formats v0/v1: refused on purpose, as Kafka 4.0 does, KIP-896).
/// v13+ name topics by id (KIP-516): an id that is not a current topic's gets UNKNOWN_TOPIC_ID; the
/// replica state (v15), node endpoints (v16, only sent with NOT_LEADER errors, which one node never
/// has) and replica directory ids (v17) need nothing from a single node.
/// Behaviour: stored batches are returned unchanged, whole (never a cut-off last batch), straight from
/// the segment's mapped memory (held by a lease until the response is written). Limits: max_bytes for
/// the response and partition_max_bytes per partition, except that the first batch found is always
/// returned, however large (KIP-74). Long polling: when fewer than min_bytes are ready the request
/// parks on the partitions' append signals (no polling) until enough arrive or max_wait_ms runs out;
/// later requests on the connection are answered after it, in order. High watermark = last stable
/// offset = log end offset (single node, no transactions). Offsets outside [log start, log end] get
/// OFFSET_OUT_OF_RANGE; fetch sessions are declined (session id 0); isolation level is accepted as is.
/// Bounds: max_bytes is clamped to <see cref="BrokerOptions.FetchMaxBytes"/> and max_wait_ms to
/// <see cref="BrokerOptions.FetchMaxWait"/>; a partition named more than once is answered once (in the
/// place of its first entry, with the parameters of its last, as Kafka's map does); a parked fetch whose
/// connection closes stops waiting at once. The records are not copied: the connection sends them from
/// the leased segment memory (<see cref="ResponseBuffer"/>). Consumer byte-rate quota, as Kafka: max_bytes is
/// capped to what the quota allows over its window, and a fetch that would put the client over the quota is
/// answered empty with throttle_time_ms, its bytes not counted, and the connection muted (KIP-219).
/// </summary>
internal sealed partial class FetchHandler(TopicRegistry topics, BrokerOptions options, TimeProvider time, Authorizer? authorizer = null, ClientQuotaManager? quotas = null, ReplicaManager? replicas = null) : RequestHandler<FetchRequest, FetchResponse>(ApiKey.Fetch, 4, 17)
{
    public override ValueTask<FetchResponse?> HandleAsync(RequestContext context, FetchRequest fetch)
    {
        bool byId = context.Version >= 13;
        if (byId)
        {
            ResolveTopicIds(fetch);
        }

        RemoveDuplicates(fetch);
        fetch.MaxBytes = Math.Min(fetch.MaxBytes, options.FetchMaxBytes);
        CapToQuota(context, fetch);
        var reads = new List<LogReadResult>(PartitionCount(fetch));
        HashSet<string>? denied = Denied(context, fetch);
        FetchResponse response = Build(fetch, byId, denied, reads, out int bytes, out bool error);
        if (bytes >= fetch.MinBytes || error || fetch.MaxWaitMs <= 0)
        {
            return ValueTask.FromResult<FetchResponse?>(Keep(context, reads, response));
        }

        return WaitAsync(context, fetch, byId, denied, reads, response);
    }

    private async ValueTask<FetchResponse?> WaitAsync(RequestContext context, FetchRequest fetch, bool byId, HashSet<string>? denied, List<LogReadResult> reads, FetchResponse response)
    {
        long started = time.GetTimestamp();
        TimeSpan maxWait = TimeSpan.FromMilliseconds(fetch.MaxWaitMs);
        if (maxWait > options.FetchMaxWait)
        {
            maxWait = options.FetchMaxWait;
        }

        while (true)
        {
            TimeSpan remaining = maxWait - time.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero || context.Closing.IsCancellationRequested)
            {
                return Keep(context, reads, response);
            }

            Release(reads);
            var signals = new List<Task>();
            for (int t = 0; t < response.Responses.Count; t++)
            {
                FetchResponse.FetchableTopicResponse topic = response.Responses[t];
                for (int p = 0; p < topic.Partitions.Count; p++)
                {
                    FetchResponse.PartitionData partition = topic.Partitions[p];
                    if (topics.ReadablePartition(topic.Topic, partition.PartitionIndex) is { } log)
                    {
                        // Wake once the end offset moves past what this attempt saw (its high watermark); in cluster
                        // mode a consumer waits for the high watermark, a follower for the log end offset.
                        signals.Add(ReplicatedSignal(fetch, t, p, log, partition) ?? log.WhenAppendedAfter(partition.HighWatermark));
                    }
                }
            }

            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.Closing))
            {
                // Ends at max wait, or at once when the connection closes (the delay is then cancelled).
                signals.Add(Task.Delay(remaining, time, timeout.Token));
                await Task.WhenAny(signals).ConfigureAwait(false);
                await timeout.CancelAsync().ConfigureAwait(false);
            }

            response = Build(fetch, byId, denied, reads, out int bytes, out bool error);
            if (bytes >= fetch.MinBytes || error)
            {
                return Keep(context, reads, response);
            }
        }
    }

    // One read per partition at most: the list is sized once (bounded by the request's own, already decoded, lists).
    private static int PartitionCount(FetchRequest fetch)
    {
        int count = 0;
        foreach (FetchRequest.FetchTopic topic in fetch.Topics)
        {
            count += topic.Partitions.Count;
        }

        return count;
    }

    /// <summary>The topics the principal may not Read (null when all may be read: the common case, no allocation).</summary>
    private HashSet<string>? Denied(RequestContext context, FetchRequest fetch)
    {
        if (authorizer is not { Enabled: true })
        {
            return null;
        }

        // A follower's fetch (a replica id set) reads past the high watermark and moves the ISR and the high watermark:
        // as in Kafka, it needs ClusterAction on the cluster (the brokers' own principal), and then no topic's Read.
        bool follower = ReplicaIdOf(fetch) >= 0;
        if (follower && authorizer.AuthorizeCluster(context, AclOperation.ClusterAction))
        {
            return null;
        }

        HashSet<string>? denied = null;
        foreach (FetchRequest.FetchTopic topic in fetch.Topics)
        {
            if (follower || authorizer.Check(context, AclOperation.Read, AclResourceType.Topic, topic.Topic) is not null)
            {
                (denied ??= new HashSet<string>(StringComparer.Ordinal)).Add(topic.Topic);
            }
        }

        return denied;
    }

    private FetchResponse Build(FetchRequest fetch, bool byId, HashSet<string>? denied, List<LogReadResult> reads, out int bytes, out bool error)
    {
        var response = new FetchResponse();
        bytes = 0;
        error = false;
        int budget = fetch.MaxBytes;
        foreach (FetchRequest.FetchTopic topic in fetch.Topics)
        {
            var topicResponse = new FetchResponse.FetchableTopicResponse { Topic = topic.Topic, TopicId = topic.TopicId };
            bool unknownId = byId && topics.Readable(topic.Topic)?.Id != topic.TopicId;
            response.Responses.Add(topicResponse);
            foreach (FetchRequest.FetchPartition partition in topic.Partitions)
            {
                var data = new FetchResponse.PartitionData { PartitionIndex = partition.Partition, Records = ReadOnlyMemory<byte>.Empty };
                topicResponse.Partitions.Add(data);
                if (denied is not null && denied.Contains(topic.Topic))
                {
                    data.ErrorCode = (short)ErrorCode.TopicAuthorizationFailed;
                    data.HighWatermark = data.LastStableOffset = data.LogStartOffset = -1;
                    error = true;
                    continue;
                }

                PartitionLog? log = topics.ReadablePartition(topic.Topic, partition.Partition);
                if (log is null || unknownId)
                {
                    data.ErrorCode = (short)(unknownId ? ErrorCode.UnknownTopicId : ErrorCode.UnknownTopicOrPartition);
                    data.HighWatermark = data.LastStableOffset = data.LogStartOffset = -1;
                    error = true;
                    continue;
                }

                long visibleEnd = long.MaxValue;
                if (replicas is not null && !CheckReplica(fetch, topic.Topic, partition, log, data, out visibleEnd))
                {
                    error = true;
                    continue;
                }

                int limit = Math.Min(partition.PartitionMaxBytes, budget);
                LogReadResult read = log.Read(partition.FetchOffset, Math.Max(limit, 1));
                data.HighWatermark = data.LastStableOffset = visibleEnd == long.MaxValue ? read.LogEndOffset : log.HighWatermark;
                if (visibleEnd != long.MaxValue && read.Status == ReadStatus.Success)
                {
                    read = BelowHighWatermark(read, visibleEnd);
                }
                data.LogStartOffset = read.LogStartOffset;
                if (read.Status == ReadStatus.SegmentLimit && reads.Count > 0)
                {
                    // This response already holds segments open, up to the bound: the partition is served
                    // by the next fetch, as when the byte budget is spent (no error for a healthy partition).
                    read.Dispose();
                    continue;
                }

                if (read.Status is ReadStatus.OffsetOutOfRange or ReadStatus.StorageError or ReadStatus.SegmentLimit)
                {
                    // A storage error (I/O, a corrupt stored batch, or every open segment held by others) is retriable.
                    data.ErrorCode = (short)(read.Status == ReadStatus.OffsetOutOfRange ? ErrorCode.OffsetOutOfRange : ErrorCode.KafkaStorageError);
                    error = true;
                    read.Dispose();
                    continue;
                }

                if (read.Records.IsEmpty || (bytes > 0 && read.Records.Length > limit))
                {
                    read.Dispose(); // nothing there, or over the budget once something is already in the response
                    continue;
                }

                data.Records = read.Records;
                bytes += read.Records.Length;
                budget -= read.Records.Length;
                reads.Add(read);
            }
        }

        return response;
    }

    /// <summary>
    /// v13+: puts each topic's current name in place of its id ("" when no topic has that id, so it
    /// finds no partition); the id is checked again on every read, so a topic deleted and created
    /// again under the same name while the fetch waits is not read in its place.
    /// </summary>
    private void ResolveTopicIds(FetchRequest fetch)
    {
        foreach (FetchRequest.FetchTopic topic in fetch.Topics)
        {
            topic.Topic = topic.TopicId == Guid.Empty ? "" : topics.Get(topic.TopicId)?.Name ?? "";
        }
    }

    /// <summary>Leaves each partition once: where it first appears, with the parameters of its last entry.</summary>
    private static void RemoveDuplicates(FetchRequest fetch)
    {
        int count = 0;
        foreach (FetchRequest.FetchTopic topic in fetch.Topics)
        {
            count += topic.Partitions.Count;
        }

        if (count <= 1)
        {
            return;
        }

        var first = new Dictionary<(string, Guid, int), (int Topic, int Partition)>(count);
        bool duplicates = false;
        for (int t = 0; t < fetch.Topics.Count; t++)
        {
            List<FetchRequest.FetchPartition> partitions = fetch.Topics[t].Partitions;
            for (int p = 0; p < partitions.Count; p++)
            {
                var key = (fetch.Topics[t].Topic, fetch.Topics[t].TopicId, partitions[p].Partition);
                if (first.TryGetValue(key, out (int Topic, int Partition) at))
                {
                    fetch.Topics[at.Topic].Partitions[at.Partition] = partitions[p];
                    partitions[p] = null!; // removed below
                    duplicates = true;
                }
                else
                {
                    first.Add(key, (t, p));
                }
            }
        }

        if (duplicates)
        {
            foreach (FetchRequest.FetchTopic topic in fetch.Topics)
            {
                topic.Partitions.RemoveAll(static p => p is null);
            }

            fetch.Topics.RemoveAll(static t => t.Partitions.Count == 0);
        }
    }

    private FetchResponse Keep(RequestContext context, List<LogReadResult> reads, FetchResponse response)
    {
        if (quotas is not null && quotas.IsEnabled(QuotaType.Fetch) && Throttled(context, reads, response))
        {
            return response;
        }

        context.Hold(reads); // the request owns the reads (and the list) from here
        return response;
    }

    /// <summary>
    /// Kafka's fetch throttling: the records a response would send count against the consumer byte-rate quota;
    /// when that puts the client over it, the bytes are taken back (they are not sent), the answer is an empty
    /// response (no partitions, as Kafka's sessionless throttled response) carrying throttle_time_ms, and the
    /// connection is muted for that long (KIP-219). True when throttled (the reads are released).
    /// </summary>
    private bool Throttled(RequestContext context, List<LogReadResult> reads, FetchResponse response)
    {
        long bytes = 0;
        foreach (LogReadResult read in reads)
        {
            bytes += read.Records.Length;
        }

        string principal = context.Session?.Principal ?? ConnectionSession.Anonymous;
        int throttle = quotas!.RecordAndGetThrottleMs(QuotaType.Fetch, principal, context.ClientId, bytes);
        response.ThrottleTimeMs = throttle;
        context.ThrottleMs = Math.Max(context.ThrottleMs, throttle);
        if (throttle <= 0)
        {
            return false;
        }

        quotas.Unrecord(QuotaType.Fetch, principal, context.ClientId, bytes);
        Release(reads);
        response.Responses.Clear();
        return true;
    }

    /// <summary>
    /// Caps max_bytes (and min_bytes with it) to what the client's consumer byte-rate quota allows over its whole
    /// window, as Kafka does: a fetch larger than that would be throttled however long the consumer waited.
    /// </summary>
    private void CapToQuota(RequestContext context, FetchRequest fetch)
    {
        if (quotas is not null && quotas.IsEnabled(QuotaType.Fetch))
        {
            double most = quotas.MaxValueInWindow(QuotaType.Fetch, context.Session?.Principal ?? ConnectionSession.Anonymous, context.ClientId);
            if (most < fetch.MaxBytes)
            {
                fetch.MaxBytes = Math.Max(1, (int)most);
            }

            fetch.MinBytes = Math.Min(fetch.MinBytes, fetch.MaxBytes);
        }
    }

    private static void Release(List<LogReadResult> reads)
    {
        for (int i = 0; i < reads.Count; i++)
        {
            LogReadResult read = reads[i];
            read.Dispose();
        }

        reads.Clear();
    }
}
