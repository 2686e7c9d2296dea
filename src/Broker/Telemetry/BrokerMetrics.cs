using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;
using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Records;
using LogBroker.Storage;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker.Telemetry;

/// <summary>
/// The broker's hot-path instruments, all on one <see cref="Meter"/> named <c>LogBroker</c>
/// (<see cref="MeterName"/>): requests and their duration per API and version, errors per API and error
/// code, bytes and records in and out per topic, connections per listener, in-flight requests, parked
/// fetches, and partition flushes (fsyncs). State read on scrape (offsets, sizes, groups, lag, disk) is in
/// <see cref="StateMetrics"/>.
/// </summary>
/// <remarks>
/// Nothing here allocates per record: tags are <see cref="TagList"/> structs whose values are cached
/// strings (API names, version numbers, error names) or strings the request already holds (topic
/// names); batches are counted from their headers. A request that completes asynchronously (a parked
/// fetch, an acks=all produce waiting for its fsync) costs one continuation. With
/// <see cref="MetricsOptions.Enabled"/> off every hook returns at once.
/// The totals kept beside the instruments (<see cref="TotalRecordsIn"/> and so on) feed the console's
/// rate charts.
/// </remarks>
internal sealed class BrokerMetrics : IDisposable
{
    /// <summary>The one meter's name: what <c>AddMeter</c> of an OpenTelemetry pipeline selects.</summary>
    public const string MeterName = "LogBroker";

    private static readonly string[] ApiNames = BuildApiNames();
    private static readonly string[] Versions = [.. Enumerable.Range(0, 64).Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture))];
    private static readonly ConcurrentDictionary<short, string> ErrorNames = BuildErrorNames();

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _requestDuration;
    private readonly Counter<long> _errors;
    private readonly Counter<long> _bytesIn;
    private readonly Counter<long> _recordsIn;
    private readonly Counter<long> _bytesOut;
    private readonly Counter<long> _recordsOut;
    private readonly Counter<long> _connectionsOpened;
    private readonly Counter<long> _connectionsClosed;
    private readonly UpDownCounter<long> _connectionsActive;
    private readonly UpDownCounter<long> _inFlight;
    private readonly UpDownCounter<long> _parkedFetches;
    private readonly Counter<long> _fsyncs;
    private readonly Histogram<double> _fsyncDuration;
    private readonly Action<TimeSpan> _onFlush;
    private long _totalRecordsIn;
    private long _totalRecordsOut;
    private long _totalBytesIn;
    private long _totalBytesOut;

    public BrokerMetrics(IMeterFactory meters, IOptions<MetricsOptions> options)
    {
        Enabled = options.Value.Enabled;
        Meter = meters.Create(new MeterOptions(MeterName) { Version = Version });
        _requests = Meter.CreateCounter<long>("logbroker.requests", "{request}", "Kafka requests handled, per API key and version");
        _requestDuration = Meter.CreateHistogram("logbroker.request.duration", "s",
            "Time from a request's dispatch until its response is ready (parked fetches included), per API key and version",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        _errors = Meter.CreateCounter<long>("logbroker.request.errors", "{error}",
            "Error codes answered (per partition where the API answers per partition), per API key and error; error=\"closed\" counts requests that closed the connection");
        _bytesIn = Meter.CreateCounter<long>("logbroker.produce.bytes", "By", "Record batch bytes appended by Produce, per topic");
        _recordsIn = Meter.CreateCounter<long>("logbroker.produce.records", "{record}", "Records appended by Produce, per topic");
        _bytesOut = Meter.CreateCounter<long>("logbroker.fetch.bytes", "By", "Record batch bytes returned by Fetch, per topic");
        _recordsOut = Meter.CreateCounter<long>("logbroker.fetch.records", "{record}", "Records in the batches returned by Fetch, per topic");
        _connectionsOpened = Meter.CreateCounter<long>("logbroker.connections.opened", "{connection}", "Kafka connections accepted, per listener");
        _connectionsClosed = Meter.CreateCounter<long>("logbroker.connections.closed", "{connection}", "Kafka connections closed, per listener");
        _connectionsActive = Meter.CreateUpDownCounter<long>("logbroker.connections.active", "{connection}", "Kafka connections open now, per listener");
        _inFlight = Meter.CreateUpDownCounter<long>("logbroker.requests.inflight", "{request}", "Requests whose handler has not finished (parked fetches, acks=all produces waiting for fsync, joins)");
        _parkedFetches = Meter.CreateUpDownCounter<long>("logbroker.fetch.parked", "{request}", "Fetch requests parked waiting for data (long polling)");
        _fsyncs = Meter.CreateCounter<long>("logbroker.fsyncs", "{flush}", "Partition flushes: fsync of the segments written since the last flush");
        _fsyncDuration = Meter.CreateHistogram("logbroker.fsync.duration", "s", "Duration of a partition flush (its fsyncs)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });
        _onFlush = OnFlush;
        if (Enabled)
        {
            StorageTelemetry.Flushed += _onFlush;
        }
    }

    /// <summary>The broker's version (informational version of this assembly).</summary>
    public static string Version { get; } =
        typeof(BrokerMetrics).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    /// <summary>When the broker process started (for uptime).</summary>
    public static DateTimeOffset StartedAt { get; } = Process.GetCurrentProcess().StartTime.ToUniversalTime();

    /// <summary>False when <c>Metrics:Enabled</c> is off: every hook returns at once.</summary>
    public bool Enabled { get; }

    public Meter Meter { get; }

    /// <summary>Records appended by Produce since start (all topics).</summary>
    public long TotalRecordsIn => Interlocked.Read(ref _totalRecordsIn);

    /// <summary>Records returned by Fetch since start (all topics).</summary>
    public long TotalRecordsOut => Interlocked.Read(ref _totalRecordsOut);

    /// <summary>Batch bytes appended by Produce since start.</summary>
    public long TotalBytesIn => Interlocked.Read(ref _totalBytesIn);

    /// <summary>Batch bytes returned by Fetch since start.</summary>
    public long TotalBytesOut => Interlocked.Read(ref _totalBytesOut);

    /// <summary>
    /// Hook of <see cref="RequestDispatcher.ProcessAsync"/>: counts the request once <paramref name="pending"/>
    /// completes (at once when it already has). Returns <paramref name="pending"/> itself.
    /// </summary>
    public Task<RequestContext> Track(RequestContext context, long started, Task<RequestContext> pending)
    {
        if (!Enabled)
        {
            return pending;
        }

        if (pending.IsCompleted)
        {
            if (pending.IsCompletedSuccessfully)
            {
                Completed(pending.Result, started);
            }

            return pending;
        }

        bool parked = context.ApiKey == ApiKey.Fetch;
        _inFlight.Add(1);
        if (parked)
        {
            _parkedFetches.Add(1);
        }

        _ = pending.ContinueWith(
            static (t, state) =>
            {
                var (metrics, started, parked) = ((BrokerMetrics, long, bool))state!;
                metrics._inFlight.Add(-1);
                if (parked)
                {
                    metrics._parkedFetches.Add(-1);
                }

                if (t.IsCompletedSuccessfully)
                {
                    metrics.Completed(t.Result, started);
                }
            },
            (this, started, parked), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return pending;
    }

    /// <summary>Hook of the listener: a connection was accepted on <paramref name="listener"/>.</summary>
    public void ConnectionOpened(string listener)
    {
        if (Enabled)
        {
            var tags = new TagList { { "listener", listener } };
            _connectionsOpened.Add(1, tags);
            _connectionsActive.Add(1, tags);
        }
    }

    /// <summary>Hook of the listener: a connection on <paramref name="listener"/> ended.</summary>
    public void ConnectionClosed(string listener)
    {
        if (Enabled)
        {
            var tags = new TagList { { "listener", listener } };
            _connectionsClosed.Add(1, tags);
            _connectionsActive.Add(-1, tags);
        }
    }

    public void Dispose() => StorageTelemetry.Flushed -= _onFlush;

    private void OnFlush(TimeSpan elapsed)
    {
        _fsyncs.Add(1);
        _fsyncDuration.Record(elapsed.TotalSeconds);
    }

    private void Completed(RequestContext context, long started)
    {
        short key = context.Header.ApiKey;
        string api = (uint)key < (uint)ApiNames.Length ? ApiNames[key] : "unknown";
        short version = context.Version;
        var tags = new TagList
        {
            { "api", api },
            { "version", (uint)version < (uint)Versions.Length ? Versions[version] : "other" },
        };
        _requests.Add(1, tags);
        _requestDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
        if (context.CloseReason is not null)
        {
            Error(api, "closed");
            return;
        }

        switch (context.Response)
        {
            case ProduceResponse produce:
                CountProduce(api, context.Request as ProduceRequest, produce);
                break;
            case FetchResponse fetch:
                CountFetch(api, fetch);
                break;
            case OffsetCommitResponse commit:
                foreach (OffsetCommitResponse.OffsetCommitResponseTopic topic in commit.Topics)
                {
                    foreach (OffsetCommitResponse.OffsetCommitResponsePartition partition in topic.Partitions)
                    {
                        Error(api, partition.ErrorCode);
                    }
                }

                break;
            case ListOffsetsResponse list:
                foreach (ListOffsetsResponse.ListOffsetsTopicResponse topic in list.Topics)
                {
                    foreach (ListOffsetsResponse.ListOffsetsPartitionResponse partition in topic.Partitions)
                    {
                        Error(api, partition.ErrorCode);
                    }
                }

                break;
            case CreateTopicsResponse create:
                foreach (CreateTopicsResponse.CreatableTopicResult topic in create.Topics)
                {
                    Error(api, topic.ErrorCode);
                }

                break;
            case FindCoordinatorResponse find:
                Error(api, find.ErrorCode);
                foreach (FindCoordinatorResponse.Coordinator coordinator in find.Coordinators)
                {
                    Error(api, coordinator.ErrorCode);
                }

                break;
            default:
                if (TopLevelError(context.Response) is { } code)
                {
                    Error(api, code);
                }

                break;
        }
    }

    /// <summary>The error code of a response that carries one for the whole request; null for the others.</summary>
    private static short? TopLevelError(object? response) => response switch
    {
        JoinGroupResponse r => r.ErrorCode,
        SyncGroupResponse r => r.ErrorCode,
        HeartbeatResponse r => r.ErrorCode,
        LeaveGroupResponse r => r.ErrorCode,
        InitProducerIdResponse r => r.ErrorCode,
        ConsumerGroupHeartbeatResponse r => r.ErrorCode,
        OffsetFetchResponse r => r.ErrorCode,
        ApiVersionsResponse r => r.ErrorCode,
        _ => null,
    };

    private void CountProduce(string api, ProduceRequest? request, ProduceResponse response)
    {
        List<ProduceResponse.TopicProduceResponse> topics = response.Responses;
        for (int t = 0; t < topics.Count; t++)
        {
            ProduceResponse.TopicProduceResponse topic = topics[t];
            // The handler answers every requested partition, in request order.
            ProduceRequest.TopicProduceData? requested = request is not null && t < request.TopicData.Count ? request.TopicData[t] : null;
            long bytes = 0;
            long records = 0;
            for (int p = 0; p < topic.PartitionResponses.Count; p++)
            {
                ProduceResponse.PartitionProduceResponse partition = topic.PartitionResponses[p];
                if (partition.ErrorCode != 0)
                {
                    Error(api, partition.ErrorCode);
                }
                else if (requested is not null && p < requested.PartitionData.Count &&
                    requested.PartitionData[p].Records is { } batch && batch.Length >= RecordBatch.HeaderSize)
                {
                    bytes += batch.Length;
                    records += Math.Max(0, BinaryPrimitives.ReadInt32BigEndian(batch.Span[RecordBatch.RecordCountOffset..]));
                }
            }

            if (bytes > 0)
            {
                var tags = new TagList { { "topic", topic.Name } };
                _bytesIn.Add(bytes, tags);
                _recordsIn.Add(records, tags);
                Interlocked.Add(ref _totalBytesIn, bytes);
                Interlocked.Add(ref _totalRecordsIn, records);
            }
        }
    }

    private void CountFetch(string api, FetchResponse response)
    {
        if (response.ErrorCode != 0)
        {
            Error(api, response.ErrorCode);
        }

        foreach (FetchResponse.FetchableTopicResponse topic in response.Responses)
        {
            long bytes = 0;
            long records = 0;
            foreach (FetchResponse.PartitionData partition in topic.Partitions)
            {
                if (partition.ErrorCode != 0)
                {
                    Error(api, partition.ErrorCode);
                    continue;
                }

                ReadOnlySpan<byte> batches = partition.Records.GetValueOrDefault().Span;
                bytes += batches.Length;
                while (batches.Length >= RecordBatch.HeaderSize)
                {
                    int total = BinaryPrimitives.ReadInt32BigEndian(batches[RecordBatch.LengthOffset..]) + RecordBatch.LogOverhead;
                    if (total < RecordBatch.HeaderSize || total > batches.Length)
                    {
                        break;
                    }

                    records += Math.Max(0, BinaryPrimitives.ReadInt32BigEndian(batches[RecordBatch.RecordCountOffset..]));
                    batches = batches[total..];
                }
            }

            if (bytes > 0)
            {
                var tags = new TagList { { "topic", topic.Topic } };
                _bytesOut.Add(bytes, tags);
                _recordsOut.Add(records, tags);
                Interlocked.Add(ref _totalBytesOut, bytes);
                Interlocked.Add(ref _totalRecordsOut, records);
            }
        }
    }

    private void Error(string api, short code)
    {
        if (code != 0)
        {
            Error(api, ErrorNames.GetOrAdd(code, static c => c.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    private void Error(string api, string error) => _errors.Add(1, new TagList { { "api", api }, { "error", error } });

    private static string[] BuildApiNames()
    {
        var names = new string[128];
        for (int i = 0; i < names.Length; i++)
        {
            names[i] = Enum.IsDefined(typeof(ApiKey), (short)i) ? ((ApiKey)i).ToString() : i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return names;
    }

    private static ConcurrentDictionary<short, string> BuildErrorNames()
    {
        var names = new ConcurrentDictionary<short, string>();
        foreach (ErrorCode code in Enum.GetValues<ErrorCode>())
        {
            names[(short)code] = KafkaName(code.ToString());
        }

        return names;
    }

    /// <summary>UnknownTopicOrPartition → UNKNOWN_TOPIC_OR_PARTITION, as Kafka names its errors.</summary>
    internal static string KafkaName(string pascal)
    {
        var name = new System.Text.StringBuilder(pascal.Length + 8);
        for (int i = 0; i < pascal.Length; i++)
        {
            if (i > 0 && char.IsUpper(pascal[i]) && !char.IsUpper(pascal[i - 1]))
            {
                name.Append('_');
            }

            name.Append(char.ToUpperInvariant(pascal[i]));
        }

        return name.ToString();
    }
}
