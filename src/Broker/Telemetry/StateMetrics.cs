using System.Diagnostics;
using System.Diagnostics.Metrics;
using LogBroker.Broker.Metadata;
using LogBroker.Storage;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker.Telemetry;

/// <summary>
/// Observable instruments on the <c>LogBroker</c> meter that read the broker's state when scraped:
/// partition offsets, sizes and segments (per topic, or per partition with
/// <see cref="MetricsOptions.PerPartition"/>), consumer group state, members, committed offsets and lag
/// (records and time) per group, topic and partition, disk space of the data directory, counts, uptime
/// and build info. Nothing runs between scrapes.
/// </summary>
internal sealed class StateMetrics
{
    private readonly BrokerState _state;
    private readonly LogManager _logs;
    private readonly MetricsOptions _options;

    public StateMetrics(BrokerMetrics metrics, BrokerState state, LogManager logs, IOptions<MetricsOptions> options)
    {
        _state = state;
        _logs = logs;
        _options = options.Value;
        Meter meter = metrics.Meter;
        meter.CreateObservableGauge("logbroker.log.start_offset", () => Logs(l => l.LogStartOffset), "{offset}",
            "Log start offset (first readable offset); summed over a topic's partitions unless Metrics:PerPartition");
        meter.CreateObservableGauge("logbroker.log.high_watermark", () => Logs(l => l.LogEndOffset), "{offset}",
            "High watermark (log end offset); summed over a topic's partitions unless Metrics:PerPartition");
        meter.CreateObservableGauge("logbroker.log.records", () => Logs(l => l.LogEndOffset - l.LogStartOffset), "{record}",
            "Offsets between log start and high watermark; per topic unless Metrics:PerPartition");
        meter.CreateObservableGauge("logbroker.log.size", () => Logs(l => l.Size), "By",
            "Bytes of stored batches; per topic unless Metrics:PerPartition");
        meter.CreateObservableGauge("logbroker.log.segments", () => Logs(l => l.SegmentCount), "{segment}",
            "Segment files; per topic unless Metrics:PerPartition");
        meter.CreateObservableGauge("logbroker.topic.partitions", TopicPartitions, "{partition}", "Partitions of each topic");
        meter.CreateObservableGauge("logbroker.topics", () => state.Topics.Topics.Count, "{topic}", "Topics");
        meter.CreateObservableGauge("logbroker.group.state", GroupStates, "{group}",
            "1 for each group, labelled with its state (Empty, Stable, PreparingRebalance, ... or the consumer protocol's states)");
        meter.CreateObservableGauge("logbroker.group.members", GroupMembers, "{member}", "Members of each group");
        meter.CreateObservableGauge("logbroker.group.committed_offset", () => Lag(static l => l.Committed), "{offset}",
            "Committed offset per group, topic and partition");
        meter.CreateObservableGauge("logbroker.group.lag", () => Lag(static l => l.Lag), "{record}",
            "Consumer lag in records (high watermark minus committed offset) per group, topic and partition");
        meter.CreateObservableGauge("logbroker.group.time_lag", TimeLag, "s",
            "Consumer lag in time: now minus the timestamp of the next record to consume, per group, topic and partition");
        meter.CreateObservableGauge("logbroker.disk.free", () => Disk(free: true), "By", "Free bytes of the data directory's file system (available to the broker)");
        meter.CreateObservableGauge("logbroker.disk.total", () => Disk(free: false), "By", "Size of the data directory's file system");
        meter.CreateObservableGauge("logbroker.uptime", () => (DateTimeOffset.UtcNow - BrokerMetrics.StartedAt).TotalSeconds, "s", "Seconds since the broker process started");
        meter.CreateObservableGauge("logbroker.build.info", () => new Measurement<int>(1,
            new KeyValuePair<string, object?>("version", BrokerMetrics.Version),
            new KeyValuePair<string, object?>("runtime", Environment.Version.ToString())), "", "1, labelled with the broker's version and the .NET runtime version");
    }

    private List<Measurement<long>> Logs(Func<PartitionLog, long> value)
    {
        var measurements = new List<Measurement<long>>();
        foreach (Topic topic in _state.Topics.Topics)
        {
            long sum = 0;
            for (int p = 0; p < topic.Partitions.Length; p++)
            {
                PartitionLog log = topic.Partitions[p];
                if (!log.IsLoaded)
                {
                    continue; // not touched since start: reading it would load it (lazy partitions)
                }

                long v = value(log);
                if (_options.PerPartition)
                {
                    measurements.Add(new Measurement<long>(v, new TagList { { "topic", topic.Name }, { "partition", p } }));
                }
                else
                {
                    sum += v;
                }
            }

            if (!_options.PerPartition)
            {
                measurements.Add(new Measurement<long>(sum, new KeyValuePair<string, object?>("topic", topic.Name)));
            }
        }

        return measurements;
    }

    private List<Measurement<int>> TopicPartitions()
    {
        var measurements = new List<Measurement<int>>();
        foreach (Topic topic in _state.Topics.Topics)
        {
            measurements.Add(new Measurement<int>(topic.Partitions.Length, new KeyValuePair<string, object?>("topic", topic.Name)));
        }

        return measurements;
    }

    private List<Measurement<int>> GroupStates()
    {
        var measurements = new List<Measurement<int>>();
        foreach (GroupSummary group in _state.ListGroups(_options.MaxLagSeries))
        {
            measurements.Add(new Measurement<int>(1, new TagList { { "group", group.Id }, { "state", group.State }, { "type", group.Type } }));
        }

        return measurements;
    }

    private List<Measurement<int>> GroupMembers()
    {
        var measurements = new List<Measurement<int>>();
        foreach (GroupSummary group in _state.ListGroups(_options.MaxLagSeries))
        {
            measurements.Add(new Measurement<int>(group.Members, new KeyValuePair<string, object?>("group", group.Id)));
        }

        return measurements;
    }

    private List<Measurement<long>> Lag(Func<PartitionLag, long> value)
    {
        var measurements = new List<Measurement<long>>();
        foreach ((string group, PartitionLag lag) in AllLag())
        {
            measurements.Add(new Measurement<long>(value(lag), new TagList { { "group", group }, { "topic", lag.Topic }, { "partition", lag.Partition } }));
        }

        return measurements;
    }

    private List<Measurement<double>> TimeLag()
    {
        var measurements = new List<Measurement<double>>();
        foreach ((string group, PartitionLag lag) in AllLag())
        {
            if (lag.TimeLagMs is { } ms)
            {
                measurements.Add(new Measurement<double>(ms / 1000.0, new TagList { { "group", group }, { "topic", lag.Topic }, { "partition", lag.Partition } }));
            }
        }

        return measurements;
    }

    private List<(string Group, PartitionLag Lag)> AllLag()
    {
        var all = new List<(string, PartitionLag)>();
        foreach (GroupSummary group in _state.ListGroups())
        {
            foreach (PartitionLag lag in _state.Lag(group.Id))
            {
                if (all.Count >= _options.MaxLagSeries)
                {
                    return all;
                }

                all.Add((group.Id, lag));
            }
        }

        return all;
    }

    private long Disk(bool free)
    {
        try
        {
            var drive = new DriveInfo(Path.GetFullPath(_logs.DataDirectory));
            return free ? drive.AvailableFreeSpace : drive.TotalSize;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            Debug.WriteLine(e.Message);
            return -1;
        }
    }
}
