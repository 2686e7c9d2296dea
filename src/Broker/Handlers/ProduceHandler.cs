using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Producers;
using LogBroker.Broker.Quotas;
using LogBroker.Broker.Replication;
using LogBroker.Broker.Security;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Records;
using LogBroker.Protocol.Security;
using LogBroker.Storage;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// Produce (key 0), versions 3–11 (v3 is the first with record batch v2 only; v0–2 need message formats
/// v0/v1 and are refused on purpose, as Kafka 4.0 does, KIP-896; v10 adds leader hints sent only with
/// NOT_LEADER errors, which one node never has; v11 adds an error of transactions, which are not served).
/// Behaviour: each partition's records must be exactly one valid batch v2 (CRC-32C, lengths, count
/// = last offset delta + 1, not a control batch, not transactional) → else CORRUPT_MESSAGE or
/// INVALID_RECORD; larger than the topic's max.message.bytes → MESSAGE_TOO_LARGE; zstd before v7 or
/// an unknown codec → UNSUPPORTED_COMPRESSION_TYPE. The records themselves are then walked
/// (<see cref="RecordValidator"/>; compressed ones streamed through a decoder bounded by
/// <see cref="BrokerOptions.MaxDecompressedBatchBytes"/>): undecodable compressed data → CORRUPT_MESSAGE,
/// a record count, offset delta, framing or max timestamp that disagrees with the records, or a
/// decompression bomb → INVALID_RECORD, a timestamp outside the topic's message.timestamp.before/after.max.ms
/// window → INVALID_TIMESTAMP, each with an error message. Idempotent batches are checked against the
/// producer's state (<see cref="ProducerStateTable"/>); a duplicate is answered with its original
/// offset. acks=0 gets no response; acks=1 is answered after the append; acks=-1 after the append
/// and, when <see cref="BrokerOptions.FlushOnAcksAll"/> is on (default), an fsync of the partitions
/// written — on a single node that is what "every in-sync replica has it" can honestly mean.
/// Other acks values get INVALID_REQUIRED_ACKS. Produce never creates topics. A partition listed more
/// than once is refused at every entry with INVALID_REQUEST and nothing is appended to it (it would
/// otherwise be ambiguous which batch counts). A topic whose compression.type names a codec gets each
/// valid batch in another codec stored re-encoded with it (<see cref="BatchRecompressor"/>, bounded by
/// the same limit on decompressed bytes); with "producer" (the default) batches are stored as sent.
/// </summary>
internal sealed partial class ProduceHandler(TopicRegistry topics, ProducerStates producers, BrokerOptions options, TimeProvider time, Authorizer? authorizer = null, ClientQuotaManager? quotas = null, ReplicaManager? replicas = null) : RequestHandler<ProduceRequest, ProduceResponse>(ApiKey.Produce, 3, 11)
{
    public override ValueTask<ProduceResponse?> HandleAsync(RequestContext context, ProduceRequest produce)
    {
        var response = new ProduceResponse();
        bool validAcks = produce.Acks is 0 or 1 or -1;
        List<(PartitionLog Log, long End)>? toFlush = null;
        List<ReplicatedWrite>? toReplicate = null;
        HashSet<(string, int)>? repeated = produce.TopicData.Count > 1 || (produce.TopicData.Count == 1 && produce.TopicData[0].PartitionData.Count > 1)
            ? Duplicates.Repeated(Keys(produce))
            : null;
        foreach (ProduceRequest.TopicProduceData topicData in produce.TopicData)
        {
            var topicResponse = new ProduceResponse.TopicProduceResponse { Name = topicData.Name };
            response.Responses.Add(topicResponse);
            ErrorCode? denied = authorizer?.Check(context, AclOperation.Write, AclResourceType.Topic, topicData.Name);
            CompressionType? codec = BatchRecompressor.TopicCodec(topics.Get(topicData.Name)?.Overrides.GetValueOrDefault(TopicConfigs.CompressionType));
            foreach (ProduceRequest.PartitionProduceData partitionData in topicData.PartitionData)
            {
                var result = new ProduceResponse.PartitionProduceResponse { Index = partitionData.Index, BaseOffset = -1 };
                topicResponse.PartitionResponses.Add(result);
                PartitionLog? log = topics.Partition(topicData.Name, partitionData.Index);
                if (!validAcks)
                {
                    result.ErrorCode = (short)ErrorCode.InvalidRequiredAcks;
                }
                else if (repeated is not null && repeated.Contains((topicData.Name, partitionData.Index)))
                {
                    result.ErrorCode = (short)ErrorCode.InvalidRequest;
                    result.ErrorMessage = "The partition is listed more than once in the request.";
                }
                else if (denied is { } refused)
                {
                    result.ErrorCode = (short)refused;
                }
                else if (TopicRegistry.IsInternal(topicData.Name))
                {
                    result.ErrorCode = (short)ErrorCode.InvalidTopicException; // as Kafka: clients cannot write the broker's own topic
                }
                else if (log is null)
                {
                    result.ErrorCode = (short)ErrorCode.UnknownTopicOrPartition;
                }
                else if (!CheckReplica(topicData.Name, partitionData.Index, produce.Acks, result, out ReplicaPartition? replica, out int leaderEpoch))
                {
                    continue;
                }
                else
                {
                    Append(log, partitionData.Records, context.Version, codec, result);
                    if (result.ErrorCode == 0 && produce.Acks == -1 && options.FlushOnAcksAll)
                    {
                        (toFlush ??= []).Add((log, log.LogEndOffset));
                    }

                    if (replica is not null && result.ErrorCode == 0)
                    {
                        Replicated(replica, leaderEpoch, log, produce.Acks, result, ref toReplicate);
                    }
                }
            }
        }

        if (quotas is not null && quotas.IsEnabled(QuotaType.Produce))
        {
            // Kafka counts the request's size against a producer byte-rate quota; with acks=0 there is no
            // response to carry the throttle time, but the connection is muted all the same.
            int throttle = quotas.RecordAndGetThrottleMs(QuotaType.Produce, context.Session?.Principal ?? ConnectionSession.Anonymous, context.ClientId, context.Frame.Length);
            response.ThrottleTimeMs = throttle;
            context.ThrottleMs = throttle;
        }

        if (produce.Acks == 0)
        {
            return ValueTask.FromResult<ProduceResponse?>(null);
        }

        if (toReplicate is not null)
        {
            return FlushThenAwaitReplicationAsync(toFlush, toReplicate, produce.TimeoutMs, response);
        }

        return toFlush is null ? ValueTask.FromResult<ProduceResponse?>(response) : FlushThenAnswerAsync(toFlush, response);
    }

    private static IEnumerable<(string, int)> Keys(ProduceRequest produce)
    {
        foreach (ProduceRequest.TopicProduceData topic in produce.TopicData)
        {
            foreach (ProduceRequest.PartitionProduceData partition in topic.PartitionData)
            {
                yield return (topic.Name, partition.Index);
            }
        }
    }

    private static async ValueTask<ProduceResponse?> FlushThenAnswerAsync(List<(PartitionLog Log, long End)> partitions, ProduceResponse response)
    {
        // Group commit (PartitionLog.FlushAsync): requests that arrive while an fsync runs share the next
        // one, off the read loop, with no thread-pool hop per request. A partition's own FlushMessages
        // limit, when reached, fsyncs inside the append instead, on the read loop.
        var flushes = new Task[partitions.Count];
        for (int i = 0; i < flushes.Length; i++)
        {
            flushes[i] = partitions[i].Log.FlushAsync(partitions[i].End); // every partition's round starts now
        }

        foreach (Task flush in flushes)
        {
            await flush.ConfigureAwait(false);
        }

        return response;
    }

    private void Append(PartitionLog log, ReadOnlyMemory<byte>? records, short version, CompressionType? codec, ProduceResponse.PartitionProduceResponse result)
    {
        ReadOnlySpan<byte> batch = records.GetValueOrDefault().Span;
        BatchValidation validation = RecordBatch.Validate(batch, out RecordBatchHeader header, out int size);
        ErrorCode error = validation switch
        {
            BatchValidation.Valid when size != batch.Length => ErrorCode.InvalidRecord, // more than one batch
            BatchValidation.Valid => Check(header, version),
            BatchValidation.UnsupportedMagic or BatchValidation.InvalidRecordCount => ErrorCode.InvalidRecord,
            _ => ErrorCode.CorruptMessage,
        };

        if (error != ErrorCode.None)
        {
            result.ErrorCode = (short)error;
            result.ErrorMessage = validation == BatchValidation.Valid ? null : $"Record batch rejected: {validation}";
            return;
        }

        LogConfig config = log.Config;
        RecompressedBatch? recompressed = null;
        if (batch.Length <= config.MaxMessageBytes) // a larger batch is refused by the append, unread
        {
            var bounds = new TimestampBounds(time.GetUtcNow().ToUnixTimeMilliseconds(),
                WindowMs(config.MessageTimestampBeforeMax), WindowMs(config.MessageTimestampAfterMax));
            RecordsCheck check = RecordValidator.Validate(batch, header, bounds, options.MaxDecompressedBatchBytes);
            if (!check.IsValid)
            {
                result.ErrorCode = (short)(check.Error switch
                {
                    RecordsError.CorruptCompressedData => ErrorCode.CorruptMessage,
                    RecordsError.TimestampOutOfRange => ErrorCode.InvalidTimestamp,
                    RecordsError.UnknownCompression => ErrorCode.UnsupportedCompressionType,
                    _ => ErrorCode.InvalidRecord,
                });
                result.ErrorMessage = check.Describe(header, bounds);
                return;
            }

            // The topic's compression.type names another codec: store the batch re-encoded with it (Kafka's LogValidator).
            if (codec is { } target && target != header.Compression)
            {
                recompressed = BatchRecompressor.Recompress(batch, header, target, options.MaxDecompressedBatchBytes);
                if (recompressed is null)
                {
                    result.ErrorCode = (short)ErrorCode.CorruptMessage;
                    return;
                }

                batch = recompressed.Batch;
                header = recompressed.Header;
            }
        }

        try
        {
            if (header.ProducerId < 0)
            {
                Store(log, log.AppendValidated(batch, header), result);
                return;
            }

            ProducerStateTable state = producers.For(log);
            lock (state.Sync)
            {
                ErrorCode check = state.Check(header, out long duplicateOf);
                if (check == ErrorCode.DuplicateSequenceNumber)
                {
                    result.BaseOffset = duplicateOf; // a retry of a batch already stored: success, original offset
                    result.LogStartOffset = log.LogStartOffset;
                    return;
                }

                if (check != ErrorCode.None)
                {
                    result.ErrorCode = (short)check;
                    return;
                }

                AppendResult appended = log.AppendValidated(batch, header);
                Store(log, appended, result);
                if (appended.Status == AppendStatus.Success)
                {
                    state.Record(header, appended.BaseOffset);
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            result.ErrorCode = (short)ErrorCode.KafkaStorageError;
            result.ErrorMessage = e.Message;
        }
        finally
        {
            recompressed?.Dispose();
        }
    }

    private static ErrorCode Check(in RecordBatchHeader header, short version)
    {
        if (header.RecordCount <= 0 || header.RecordCount != header.LastOffsetDelta + 1 || header.IsControl ||
            header.IsTransactional || (header.ProducerId >= 0 && header.BaseSequence < 0))
        {
            return ErrorCode.InvalidRecord;
        }

        return header.Compression > CompressionType.Zstd || (header.Compression == CompressionType.Zstd && version < 7)
            ? ErrorCode.UnsupportedCompressionType
            : ErrorCode.None;
    }

    private static long WindowMs(TimeSpan? window) => window is { } w ? (long)w.TotalMilliseconds : long.MaxValue;

    private static void Store(PartitionLog log, AppendResult appended, ProduceResponse.PartitionProduceResponse result)
    {
        switch (appended.Status)
        {
            case AppendStatus.Success:
                result.BaseOffset = appended.BaseOffset;
                result.LogStartOffset = log.LogStartOffset;
                break;
            case AppendStatus.BatchTooLarge:
                result.ErrorCode = (short)ErrorCode.MessageTooLarge;
                break;
            default:
                result.ErrorCode = (short)ErrorCode.CorruptMessage;
                break;
        }
    }
}
