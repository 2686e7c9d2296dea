using Microsoft.Extensions.Logging;

namespace LogBroker.Client.Internal;

/// <summary>
/// The client's background tasks: each one started here is tracked until it ends, and an exception it
/// throws is logged instead of vanishing with an unobserved task. <see cref="DrainAsync"/> waits for them.
/// </summary>
internal sealed partial class BackgroundWork(ILogger logger)
{
    private readonly Lock _lock = new();
    private readonly HashSet<Task> _running = [];

    /// <summary>Tasks still running.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _running.Count;
            }
        }
    }

    /// <summary>Starts <paramref name="work"/> and tracks it; <paramref name="what"/> names it in the log if it fails.</summary>
    public void Run(Func<Task> work, string what)
    {
        Task task;
        try
        {
            task = work();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogFailed(logger, what, e);
            return;
        }

        if (task.IsCompleted)
        {
            Observe(task, what);
            return;
        }

        lock (_lock)
        {
            _running.Add(task);
        }

        _ = task.ContinueWith((t, state) => ((BackgroundWork)state!).Done(t, what), this, CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void Done(Task task, string what)
    {
        lock (_lock)
        {
            _running.Remove(task);
        }

        Observe(task, what);
    }

    private void Observe(Task task, string what)
    {
        if (task.IsFaulted && task.Exception.InnerException is not OperationCanceledException)
        {
            LogFailed(logger, what, task.Exception.InnerException ?? task.Exception);
        }
    }

    /// <summary>Waits until every tracked task has ended (their failures are already logged).</summary>
    public async Task DrainAsync()
    {
        while (true)
        {
            Task[] tasks;
            lock (_lock)
            {
                if (_running.Count == 0)
                {
                    return;
                }

                tasks = [.. _running];
            }

            try
            {
                await Task.WhenAll(tasks).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Logged by Done.
            }
        }
    }

    [LoggerMessage(EventId = 500, Level = LogLevel.Error, Message = "Background work '{What}' failed")]
    private static partial void LogFailed(ILogger logger, string what, Exception exception);
}

/// <summary>What a background loop does after a step threw.</summary>
internal enum LoopFault
{
    /// <summary>Wait the backoff, then run the next step.</summary>
    Backoff,

    /// <summary>End the loop.</summary>
    Stop,
}

/// <summary>
/// The skeleton every client background loop shares (the producer's sender, each fetch source, the group
/// membership): run a step until stopped; a cancellation by the stop token ends the loop quietly; any
/// other exception goes to the loop's own handler, which logs it and says whether to back off or stop.
/// </summary>
internal static class BackgroundLoop
{
    /// <summary>
    /// Runs <paramref name="step"/> until it returns false or <paramref name="stop"/> is cancelled.
    /// </summary>
    public static async Task RunAsync(Func<Task<bool>> step, Func<Exception, LoopFault> onFault, Func<Task> backoff, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (!await step().ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                if (onFault(e) == LoopFault.Stop)
                {
                    return;
                }

                await backoff().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Waits <paramref name="delay"/> on <paramref name="time"/>; returns early (without throwing) when stopped.</summary>
    public static async Task DelayAsync(TimeSpan delay, TimeProvider time, CancellationToken stop)
    {
        try
        {
            await Task.Delay(delay, time, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
