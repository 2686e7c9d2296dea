using LogBroker.Broker.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker.Admin;

/// <summary>One lag sample of a group: when, total records behind, and the largest time lag of its partitions.</summary>
internal readonly record struct LagSample(long TimeMs, long Lag, long? MaxTimeLagMs);

/// <summary>One rate sample: when, and records and bytes per second in (Produce) and out (Fetch) since the previous sample.</summary>
internal readonly record struct RateSample(long TimeMs, double RecordsInPerSec, double RecordsOutPerSec, double BytesInPerSec, double BytesOutPerSec);

/// <summary>A fixed-size ring of samples, oldest dropped first. Thread-safe.</summary>
internal sealed class SampleRing<T>(int capacity)
{
    private readonly T[] _items = new T[capacity];
    private int _next;
    private int _count;

    public void Add(T item)
    {
        lock (_items)
        {
            _items[_next] = item;
            _next = (_next + 1) % _items.Length;
            _count = Math.Min(_count + 1, _items.Length);
        }
    }

    public T[] ToArray()
    {
        lock (_items)
        {
            var copy = new T[_count];
            int start = (_next - _count + _items.Length) % _items.Length;
            for (int i = 0; i < _count; i++)
            {
                copy[i] = _items[(start + i) % _items.Length];
            }

            return copy;
        }
    }
}

/// <summary>
/// Samples every group's lag and the broker's produce/fetch rates every
/// <see cref="ConsoleOptions.LagSampleInterval"/> and keeps the last <see cref="ConsoleOptions.LagHistoryLength"/>
/// samples in memory (for at most <see cref="ConsoleOptions.LagHistoryMaxGroups"/> groups; a deleted group's
/// history goes with it). A failing pass is logged and the loop goes on.
/// </summary>
internal sealed partial class LagHistory(BrokerState state, BrokerMetrics metrics, IOptions<ConsoleOptions> options, TimeProvider time, ILogger<LagHistory> logger)
    : BackgroundService
{
    private readonly ConsoleOptions _options = options.Value;
    private readonly Dictionary<string, SampleRing<LagSample>> _groups = new(StringComparer.Ordinal);
    private readonly SampleRing<RateSample> _rates = new(options.Value.LagHistoryLength);
    private (long Time, long RecordsIn, long RecordsOut, long BytesIn, long BytesOut)? _previous;

    /// <summary>The samples of one group, oldest first (empty when it has none).</summary>
    public LagSample[] For(string group)
    {
        lock (_groups)
        {
            return _groups.TryGetValue(group, out SampleRing<LagSample>? ring) ? ring.ToArray() : [];
        }
    }

    /// <summary>The produce/fetch rate samples, oldest first.</summary>
    public RateSample[] Rates => _rates.ToArray();

    /// <summary>Takes one sample of every group and of the rates (the loop calls it; tests may too).</summary>
    public void SampleNow()
    {
        long now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (GroupSummary group in state.ListGroups(_options.LagHistoryMaxGroups))
        {
            long total = 0;
            long? maxTime = null;
            foreach (PartitionLag lag in state.Lag(group.Id))
            {
                total += lag.Lag;
                if (lag.TimeLagMs is { } ms && (maxTime is null || ms > maxTime))
                {
                    maxTime = ms;
                }
            }

            seen.Add(group.Id);
            lock (_groups)
            {
                if (!_groups.TryGetValue(group.Id, out SampleRing<LagSample>? ring))
                {
                    _groups[group.Id] = ring = new SampleRing<LagSample>(_options.LagHistoryLength);
                }

                ring.Add(new LagSample(now, total, maxTime));
            }
        }

        lock (_groups)
        {
            foreach (string gone in _groups.Keys.Where(k => !seen.Contains(k)).ToList())
            {
                _groups.Remove(gone);
            }
        }

        var current = (now, metrics.TotalRecordsIn, metrics.TotalRecordsOut, metrics.TotalBytesIn, metrics.TotalBytesOut);
        if (_previous is { } p && now > p.Time)
        {
            double seconds = (now - p.Time) / 1000.0;
            _rates.Add(new RateSample(now, (current.TotalRecordsIn - p.RecordsIn) / seconds, (current.TotalRecordsOut - p.RecordsOut) / seconds,
                (current.TotalBytesIn - p.BytesIn) / seconds, (current.TotalBytesOut - p.BytesOut) / seconds));
        }

        _previous = current;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.LagSampleInterval, time);
        try
        {
            do
            {
                try
                {
                    SampleNow();
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    SampleFailed(logger, e);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(EventId = 3851, Level = LogLevel.Warning, Message = "Sampling consumer group lag failed; the sampler goes on")]
    private static partial void SampleFailed(ILogger logger, Exception exception);
}
