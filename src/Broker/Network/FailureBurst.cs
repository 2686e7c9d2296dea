namespace LogBroker.Broker.Network;

/// <summary>
/// Turns a burst of the same failure into few log lines: the first failure of a burst is logged, the
/// repeats within <c>window</c> are only counted, and the count is logged with the next failure after the
/// window or when the burst ends. An accept loop at the open-file limit fails every 100 ms for as long as
/// the limit lasts; one line (and one stack trace) per retry would flood the log and cost the I/O the
/// broker is short of. Not thread-safe: one instance per loop.
/// </summary>
internal sealed class FailureBurst(TimeProvider time, TimeSpan window)
{
    private long _loggedAt;
    private bool _inBurst;
    private int _unlogged;

    /// <summary>
    /// Records a failure. True when it is to be logged, with <paramref name="unlogged"/> the repeats
    /// counted (not logged) since the last logged one.
    /// </summary>
    public bool Fail(out int unlogged)
    {
        long now = time.GetTimestamp();
        if (_inBurst && time.GetElapsedTime(_loggedAt, now) < window)
        {
            _unlogged++;
            unlogged = 0;
            return false;
        }

        unlogged = _unlogged;
        _unlogged = 0;
        _loggedAt = now;
        _inBurst = true;
        return true;
    }

    /// <summary>
    /// Records a success. True when it ends a burst, with <paramref name="unlogged"/> the repeats not
    /// logged since the last logged failure.
    /// </summary>
    public bool Succeed(out int unlogged)
    {
        unlogged = _unlogged;
        bool ended = _inBurst;
        _inBurst = false;
        _unlogged = 0;
        return ended;
    }
}
