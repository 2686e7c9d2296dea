using LogBroker.Broker.Network;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Broker.Tests;

/// <summary>The accept loop's log limiter: one line per burst of failures, with the count of the ones not logged.</summary>
public sealed class FailureBurstTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void The_first_failure_of_a_burst_is_logged_and_repeats_within_the_window_are_only_counted()
    {
        var burst = new FailureBurst(_time, TimeSpan.FromSeconds(10));
        Assert.True(burst.Fail(out int unlogged));
        Assert.Equal(0, unlogged);
        for (int i = 0; i < 99; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100)); // the accept loop's retry pause
            Assert.False(burst.Fail(out _));
        }

        _time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.True(burst.Fail(out unlogged)); // 10 s after the last line: one more line with the count
        Assert.Equal(99, unlogged);
        _time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.False(burst.Fail(out _));
        Assert.True(burst.Succeed(out unlogged)); // the burst ends: the rest is reported once
        Assert.Equal(1, unlogged);
        Assert.False(burst.Succeed(out _)); // successes outside a burst log nothing
    }

    [Fact]
    public void A_failure_after_a_success_starts_a_new_burst_and_is_logged_at_once()
    {
        var burst = new FailureBurst(_time, TimeSpan.FromSeconds(10));
        Assert.True(burst.Fail(out _));
        Assert.True(burst.Succeed(out _));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(burst.Fail(out int unlogged));
        Assert.Equal(0, unlogged);
    }
}
