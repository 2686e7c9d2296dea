using System.Text;

namespace LogBroker.TestKit.History;

/// <summary>The kinds of anomaly <see cref="HistoryChecker"/> reports.</summary>
public enum ViolationKind
{
    /// <summary>An acknowledged value was not read at its acknowledged offset.</summary>
    LostAck,

    /// <summary>A value was read that no client ever sent.</summary>
    Phantom,

    /// <summary>An idempotent send's value was read at more than one offset.</summary>
    Duplicate,

    /// <summary>Within one read pass, a partition's offsets did not strictly increase.</summary>
    NonMonotonic,

    /// <summary>Two brokers accepted writes as leader of one partition in one leader epoch.</summary>
    TwoLeaders,

    /// <summary>Two different values were acknowledged at one offset of one partition.</summary>
    ConflictingAcks,
}

/// <summary>One anomaly, with a human description.</summary>
public sealed record Violation(ViolationKind Kind, int Partition, string Detail);

/// <summary>What a history came to: counts, and the first violations of each run.</summary>
public sealed class Verdict
{
    /// <summary>How many violations are kept in <see cref="Violations"/> (the counts keep counting).</summary>
    public const int MaxKept = 20;

    /// <summary>Values sent.</summary>
    public int Sent { get; init; }

    /// <summary>Sends acknowledged.</summary>
    public int Acked { get; init; }

    /// <summary>Sends that failed (indeterminate: may or may not be in the log).</summary>
    public int Failed { get; init; }

    /// <summary>Records read, over every pass.</summary>
    public int Read { get; init; }

    /// <summary>Leader observations checked.</summary>
    public int LeaderObservations { get; init; }

    /// <summary>Violations by kind (all of them, not only those kept).</summary>
    public required IReadOnlyDictionary<ViolationKind, int> Counts { get; init; }

    /// <summary>The first <see cref="MaxKept"/> violations, in the order found.</summary>
    public required IReadOnlyList<Violation> Violations { get; init; }

    /// <summary>True when nothing was violated.</summary>
    public bool Valid
    {
        get
        {
            foreach (var (_, n) in Counts)
            {
                if (n > 0)
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>The number of violations of <paramref name="kind"/>.</summary>
    public int Count(ViolationKind kind) => Counts.TryGetValue(kind, out var n) ? n : 0;

    /// <inheritdoc/>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(Valid ? "VALID" : "INVALID")
            .Append($": sent={Sent} acked={Acked} failed={Failed} read={Read} leaderObservations={LeaderObservations}");
        foreach (var kind in Enum.GetValues<ViolationKind>())
        {
            text.Append($" {kind}={Count(kind)}");
        }

        foreach (var v in Violations)
        {
            text.AppendLine().Append($"  {v.Kind} p{v.Partition}: {v.Detail}");
        }

        return text.ToString();
    }
}
