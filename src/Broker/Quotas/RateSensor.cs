namespace LogBroker.Broker.Quotas;

/// <summary>
/// A rate over sliding windows, as Kafka's quota sensors measure it: <see cref="Samples"/> samples of
/// <see cref="WindowMs"/> each; the rate is the sum of the live samples over the time they span, counted
/// as at least <c>Samples - 1</c> whole windows (so a first burst is not divided by a few milliseconds).
/// </summary>
/// <remarks>Thread-safe; a fixed array, no allocation per record.</remarks>
internal sealed class RateSensor
{
    public const int Samples = 11;
    public const long WindowMs = 1000;

    private readonly long[] _start = new long[Samples];
    private readonly double[] _value = new double[Samples];
    private readonly Lock _lock = new();
    private readonly bool[] _live = new bool[Samples];
    private int _current;

    /// <summary>When this sensor last recorded (ms), for idle eviction.</summary>
    public long LastUsedMs { get; private set; }

    /// <summary>
    /// Records <paramref name="amount"/> at <paramref name="nowMs"/> and returns the throttle time in ms
    /// (0 when the rate stays within <paramref name="quota"/>): Kafka's <c>(rate - quota) / quota × window</c>,
    /// the time the client must stay silent for the rate over the window to come back to the quota, bounded
    /// by <paramref name="maxThrottleMs"/> (Kafka leaves byte-rate throttles unbounded; a bound of the whole window keeps a
    /// freshly lowered quota from muting a client for minutes; request quotas are bounded by one window, as in Kafka).
    /// </summary>
    public long RecordAndGetThrottleMs(double amount, double quota, long nowMs, long maxThrottleMs = Samples * WindowMs)
    {
        lock (_lock)
        {
            double rate = RecordLocked(amount, nowMs, out long elapsed);
            if (rate <= quota)
            {
                return 0;
            }

            double throttle = (rate - quota) / quota * elapsed;
            return (long)Math.Min(Math.Round(throttle), maxThrottleMs);
        }
    }

    /// <summary>Records <paramref name="amount"/> (negative: takes back what was recorded) without asking for a throttle.</summary>
    public void Record(double amount, long nowMs)
    {
        lock (_lock)
        {
            RecordLocked(amount, nowMs, out _);
        }
    }

    /// <summary>Records and returns the rate per second over the live samples; hold <see cref="_lock"/>.</summary>
    private double RecordLocked(double amount, long nowMs, out long elapsed)
    {
        LastUsedMs = nowMs;
        if (!_live[_current])
        {
            _start[_current] = nowMs;
            _value[_current] = 0;
            _live[_current] = true;
        }
        else if (nowMs >= _start[_current] + WindowMs)
        {
            _current = (_current + 1) % Samples;
            _start[_current] = nowMs;
            _value[_current] = 0;
            _live[_current] = true;
        }

        _value[_current] += amount;

        double total = 0;
        long oldest = nowMs;
        for (int i = 0; i < Samples; i++)
        {
            if (!_live[i])
            {
                continue;
            }

            if (nowMs - _start[i] >= Samples * WindowMs)
            {
                _live[i] = false; // older than the whole window: no longer counts (Kafka purges it)
                _value[i] = 0;
                continue;
            }

            total += _value[i];
            oldest = Math.Min(oldest, _start[i]);
        }

        elapsed = nowMs - oldest;
        long fullWindows = elapsed / WindowMs;
        if (fullWindows < Samples - 1)
        {
            elapsed += (Samples - 1 - fullWindows) * WindowMs;
        }

        return total * 1000.0 / elapsed;
    }
}
