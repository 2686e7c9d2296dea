namespace LogBroker.Storage;

/// <summary>
/// Group commit for acks=all: every request that arrives while an fsync round runs waits for the next
/// round, and that one round's fsync serves all of them. The rounds run on one thread-pool work item per
/// burst (not one hop per request); a round that fails fails every waiter it was serving.
/// </summary>
public sealed partial class PartitionLog
{
    private readonly Lock _groupLock = new();
    private List<TaskCompletionSource>? _groupWaiting;
    private bool _groupRunning;

    /// <summary>
    /// Completes once every offset below <paramref name="upToOffset"/> is durable (at once when it
    /// already is), or faults with the flush's failure. Call after the append of those offsets returned.
    /// </summary>
    public Task FlushAsync(long upToOffset)
    {
        if (RecoveryPoint >= Math.Min(upToOffset, LogEndOffset))
        {
            return Task.CompletedTask;
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_groupLock)
        {
            (_groupWaiting ??= []).Add(done);
            if (_groupRunning)
            {
                return done.Task; // served by the round after the one running now
            }

            _groupRunning = true;
        }

        ThreadPool.UnsafeQueueUserWorkItem(static log => log.RunGroupCommits(), this, preferLocal: false);
        return done.Task;
    }

    private void RunGroupCommits()
    {
        while (true)
        {
            List<TaskCompletionSource>? round;
            lock (_groupLock)
            {
                round = _groupWaiting;
                _groupWaiting = null;
                if (round is null)
                {
                    _groupRunning = false;
                    return;
                }
            }

            // Every waiter of this round enqueued after its append returned, so the log end offset read by
            // Flush() is at or past each one's offsets: one fsync covers them all.
            Exception? failure = null;
            try
            {
                Flush();
            }
            catch (Exception e)
            {
                failure = e;
            }

            foreach (TaskCompletionSource done in round)
            {
                if (failure is null)
                {
                    done.TrySetResult();
                }
                else
                {
                    done.TrySetException(failure);
                }
            }
        }
    }
}
