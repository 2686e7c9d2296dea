using System.Diagnostics;

namespace LogBroker.Storage;

/// <summary>
/// What storage tells the broker's metrics without depending on them: one event per partition flush
/// (the fsyncs of the segments written since the last flush), with its duration. Process-wide: every
/// <see cref="LogManager"/> in the process raises it.
/// </summary>
public static class StorageTelemetry
{
    /// <summary>Raised after each partition flush, with how long it took. Handlers must be cheap and must not throw.</summary>
    public static event Action<TimeSpan>? Flushed;

    /// <summary>Starts timing a flush; disposing the result raises <see cref="Flushed"/>.</summary>
    internal static FlushTiming StartFlush() => new(Stopwatch.GetTimestamp());

    /// <summary>Times one flush (a struct: nothing is allocated).</summary>
    internal readonly struct FlushTiming(long started) : IDisposable
    {
        public void Dispose() => Flushed?.Invoke(Stopwatch.GetElapsedTime(started));
    }
}
