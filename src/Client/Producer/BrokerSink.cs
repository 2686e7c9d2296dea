using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace LogBroker.Client.Producer;

/// <summary>
/// One broker's side of the sender (franz-go's sink): seals and numbers the batches drained for this
/// broker, packs them into produce requests up to max.request.size, sends each as tracked work, and matches
/// the response's partitions to the batches by dictionary.
/// </summary>
internal sealed partial class BrokerSink(int node, Sender sender)
{
    private readonly ProducerOptions _options = sender.Options;
    private readonly RecordAccumulator _accumulator = sender.Accumulator;

    public int Node => node;

    /// <summary>Sends <paramref name="batches"/> (each already marked in flight by the accumulator).</summary>
    public void Send(List<(PartitionQueue Queue, ProducerBatch Batch)> batches, CancellationToken stop)
    {
        var current = new List<(PartitionQueue, ProducerBatch)>();
        long size = 0;
        foreach ((PartitionQueue pq, ProducerBatch batch) in batches)
        {
            if (!batch.IsSealed)
            {
                try
                {
                    batch.Seal(_options.CompressionLevel);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    _accumulator.Fail(pq, batch, new ProduceException(ErrorCode.UnknownServerError, $"Encoding a batch for {pq.Partition} failed: {e.Message}", pq.Partition, e));
                    continue;
                }
            }

            sender.StampProducer(pq, batch);
            if (batch.Bytes.Length > _options.MessageMaxBytes)
            {
                _accumulator.Fail(pq, batch, new ProduceException(ErrorCode.MessageTooLarge,
                    $"A batch of {batch.Bytes.Length} bytes for {pq.Partition} exceeds MessageMaxBytes ({_options.MessageMaxBytes}).", pq.Partition));
                continue;
            }

            if (current.Count > 0 && size + batch.Bytes.Length > _options.MaxRequestSize)
            {
                StartRequest(current, stop);
                current = [];
                size = 0;
            }

            current.Add((pq, batch));
            size += batch.Bytes.Length;
        }

        if (current.Count > 0)
        {
            StartRequest(current, stop);
        }
    }

    private void StartRequest(List<(PartitionQueue Queue, ProducerBatch Batch)> batches, CancellationToken stop) =>
        sender.Start(() => SendRequestAsync(batches, stop));

    private async Task SendRequestAsync(List<(PartitionQueue Queue, ProducerBatch Batch)> batches, CancellationToken stop)
    {
        var request = new ProduceRequest
        {
            Acks = (short)_options.Acks,
            TimeoutMs = (int)Math.Min(int.MaxValue, _options.RequestTimeout.TotalMilliseconds),
            TransactionalId = null,
        };
        var byTopic = new Dictionary<string, ProduceRequest.TopicProduceData>(StringComparer.Ordinal);
        foreach ((PartitionQueue pq, ProducerBatch batch) in batches)
        {
            batch.Attempts++;
            if (!byTopic.TryGetValue(pq.Partition.Topic, out ProduceRequest.TopicProduceData? t))
            {
                byTopic[pq.Partition.Topic] = t = new ProduceRequest.TopicProduceData { Name = pq.Partition.Topic };
                request.TopicData.Add(t);
            }

            t.PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = pq.Partition.Partition, Records = batch.Bytes });
        }

        ProduceResponse? response = null;
        KafkaException? failure = null;
        try
        {
            response = await sender.Transport.ProduceAsync(node, request, _options.Acks == Acks.None, stop).ConfigureAwait(false);
        }
        catch (KafkaException e)
        {
            failure = e;
        }
        catch (OperationCanceledException)
        {
            failure = new KafkaException(ErrorCode.NetworkException, "The producer was disposed before the record was delivered.");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Not a Kafka error (a bug or an unexpected exception): the batches must not stay in flight for ever.
            failure = new KafkaException(ErrorCode.UnknownServerError, $"Sending a produce request failed: {e.Message}", e);
        }

        Dictionary<TopicPartition, ProduceResponse.PartitionProduceResponse>? answers = null;
        if (response is not null)
        {
            answers = new Dictionary<TopicPartition, ProduceResponse.PartitionProduceResponse>(batches.Count);
            foreach (ProduceResponse.TopicProduceResponse t in response.Responses)
            {
                foreach (ProduceResponse.PartitionProduceResponse p in t.PartitionResponses)
                {
                    answers[new TopicPartition(t.Name, p.Index)] = p;
                }
            }
        }

        bool refresh = false;
        bool stopping = stop.IsCancellationRequested;
        foreach ((PartitionQueue pq, ProducerBatch batch) in batches)
        {
            ErrorCode error = failure?.ErrorCode ?? ErrorCode.None;
            long baseOffset = -1;
            string? message = failure?.Message;
            if (answers is not null)
            {
                if (answers.TryGetValue(pq.Partition, out ProduceResponse.PartitionProduceResponse? p))
                {
                    error = (ErrorCode)p.ErrorCode;
                    baseOffset = p.BaseOffset;
                    message = p.ErrorMessage;
                }
                else
                {
                    error = ErrorCode.UnknownServerError;
                    message = "The broker's response did not cover the partition.";
                }
            }

            int attempt = batch.Attempts; // the batch may go back to its pool in Complete
            BatchOutcome outcome = _accumulator.Complete(pq, batch, error, baseOffset, message, stopping);
            if (outcome >= BatchOutcome.Retried)
            {
                LogRetry(sender.Logger, pq.Partition, attempt);
                refresh |= outcome == BatchOutcome.RetriedAfterMetadata;
            }
        }

        if (refresh)
        {
            sender.Transport.Invalidate();
            sender.RefreshMetadata(stop);
        }
    }

    [LoggerMessage(EventId = 202, Level = LogLevel.Debug, Message = "Retrying a batch for {Partition} (attempt {Attempt})")]
    private static partial void LogRetry(ILogger logger, TopicPartition partition, int attempt);
}
