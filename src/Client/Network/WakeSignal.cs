using System.Threading.Channels;

namespace LogBroker.Client.Network;

/// <summary>
/// Wakes a background loop early: <see cref="Set"/> any number of times, and the loop's next
/// <see cref="WaitAsync"/> returns at once (the signals coalesce into one).
/// </summary>
internal sealed class WakeSignal(TimeProvider time)
{
    private readonly Channel<bool> _channel = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Set() => _channel.Writer.TryWrite(true);

    /// <summary>
    /// Returns once the signal is set or <paramref name="delay"/> passes; throws
    /// <see cref="OperationCanceledException"/> only when <paramref name="stop"/> is cancelled.
    /// </summary>
    public async Task WaitAsync(TimeSpan delay, CancellationToken stop)
    {
        if (_channel.Reader.TryRead(out _))
        {
            return;
        }

        using var timer = new CancellationTokenSource(delay < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : delay, time);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop, timer.Token);
        try
        {
            await _channel.Reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false);
            _channel.Reader.TryRead(out _);
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
        }
    }
}
