using LogBroker.TestKit.History;
using HistoryLog = LogBroker.TestKit.History.History;

namespace LogBroker.Broker.Tests.History;

/// <summary>The history checker on synthetic histories: a clean one passes, each kind of anomaly is caught.</summary>
public sealed class HistoryCheckerTests
{
    // Two partitions, three values each, all acknowledged and read back in one pass; one failed send never read.
    private static HistoryLog Clean()
    {
        var h = new HistoryLog();
        for (var p = 0; p < 2; p++)
        {
            for (var i = 0; i < 3; i++)
            {
                h.Sent($"v{p}-{i}", p);
                h.Acked($"v{p}-{i}", i);
                h.LeaderObserved(p, 0, 1, i);
            }
        }

        h.Sent("lost-in-flight", 0);
        h.Failed("lost-in-flight");
        for (var p = 0; p < 2; p++)
        {
            for (var i = 0; i < 3; i++)
            {
                h.ReadAt(1, p, i, $"v{p}-{i}");
            }
        }

        return h;
    }

    [Fact]
    public void A_clean_history_is_valid_with_its_counts()
    {
        var verdict = Clean().Check();
        Assert.True(verdict.Valid, verdict.ToString());
        Assert.Equal((7, 6, 1, 6, 6), (verdict.Sent, verdict.Acked, verdict.Failed, verdict.Read, verdict.LeaderObservations));
        Assert.Empty(verdict.Violations);
        Assert.StartsWith("VALID", verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_failed_send_that_did_land_is_allowed_once()
    {
        var h = Clean();
        h.ReadAt(2, 0, 3, "lost-in-flight");
        Assert.True(h.Check().Valid);
    }

    [Fact]
    public void An_acknowledged_record_missing_or_at_another_offset_is_lost()
    {
        var h = new HistoryLog();
        h.Sent("a", 0);
        h.Acked("a", 0);
        h.Sent("b", 0);
        h.Acked("b", 1);
        h.Sent("c", 0);
        h.Acked("c", 2);
        h.ReadAt(1, 0, 0, "a");
        h.ReadAt(1, 0, 5, "c"); // read, but not where it was acknowledged (the log was rewritten)
        var verdict = h.Check();
        Assert.False(verdict.Valid);
        Assert.Equal(2, verdict.Count(ViolationKind.LostAck));
        Assert.Contains(verdict.Violations, v => v.Detail.Contains("'b'", StringComparison.Ordinal) && v.Detail.Contains("never read", StringComparison.Ordinal));
        Assert.Contains(verdict.Violations, v => v.Detail.Contains("'c'", StringComparison.Ordinal) && v.Detail.Contains("(0, 5)", StringComparison.Ordinal));
        Assert.StartsWith("INVALID", verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_value_read_that_was_never_sent_is_a_phantom()
    {
        var h = Clean();
        h.ReadAt(2, 1, 3, "ghost");
        var verdict = h.Check();
        Assert.Equal(1, verdict.Count(ViolationKind.Phantom));
        Assert.False(verdict.Valid);
    }

    [Fact]
    public void An_idempotent_send_read_twice_is_a_duplicate_but_a_plain_retry_is_not()
    {
        var h = Clean();
        h.ReadAt(2, 0, 3, "v0-2");
        Assert.Equal(1, h.Check().Count(ViolationKind.Duplicate));

        var plain = new HistoryLog();
        plain.Sent("x", 0, idempotent: false);
        plain.Acked("x", 1);
        plain.ReadAt(1, 0, 0, "x");
        plain.ReadAt(1, 0, 1, "x");
        Assert.True(plain.Check().Valid);
    }

    [Fact]
    public void Offsets_going_back_within_a_pass_are_caught_but_a_new_pass_may_start_over()
    {
        var h = Clean();
        h.ReadAt(2, 0, 0, "v0-0");
        h.ReadAt(2, 0, 1, "v0-1");
        Assert.True(h.Check().Valid);
        h.ReadAt(2, 0, 1, "v0-1");
        var verdict = h.Check();
        Assert.Equal(1, verdict.Count(ViolationKind.NonMonotonic));
        Assert.Equal(0, verdict.Count(ViolationKind.Duplicate)); // same offset twice is one place
    }

    [Fact]
    public void Two_leaders_accepting_writes_in_one_epoch_are_caught_and_so_are_two_acks_at_one_offset()
    {
        var h = Clean();
        h.LeaderObserved(0, 1, 2, 3);
        Assert.True(h.Check().Valid);
        h.LeaderObserved(0, 1, 3, 3);
        h.Sent("split", 0);
        h.Acked("split", 2); // v0-2 was acknowledged at offset 2 too
        var verdict = h.Check();
        Assert.Equal(1, verdict.Count(ViolationKind.TwoLeaders));
        Assert.Equal(1, verdict.Count(ViolationKind.ConflictingAcks));
        Assert.Equal(1, verdict.Count(ViolationKind.LostAck));
    }

    [Fact]
    public void Only_the_first_violations_are_kept_but_all_are_counted()
    {
        var h = new HistoryLog();
        for (var i = 0; i < 50; i++)
        {
            h.ReadAt(1, 0, i, "ghost" + i);
        }

        var verdict = h.Check();
        Assert.Equal(50, verdict.Count(ViolationKind.Phantom));
        Assert.Equal(Verdict.MaxKept, verdict.Violations.Count);
        Assert.Throws<ArgumentException>(() => h.Acked("never", 0));
        h.Sent("once", 0);
        Assert.Throws<ArgumentException>(() => h.Sent("once", 0));
    }
}
