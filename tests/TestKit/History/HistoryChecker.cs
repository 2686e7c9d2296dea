namespace LogBroker.TestKit.History;

/// <summary>
/// Checks a <see cref="History"/>: no acknowledged record lost (each acked value is read at its acked offset),
/// no value read that was never sent, no idempotent send read twice, offsets strictly increasing per partition
/// within each read pass, no two values acknowledged at one offset, and at most one leader accepting writes per
/// partition and leader epoch. Failed sends are indeterminate: reading them is allowed, missing them too.
/// </summary>
internal static class HistoryChecker
{
    public static Verdict Check(List<History.Send> sends, List<History.Read> reads, List<History.LeaderObservation> leaders, int failures)
    {
        var counts = new Dictionary<ViolationKind, int>();
        var kept = new List<Violation>();
        void Report(ViolationKind kind, int partition, string detail)
        {
            counts[kind] = counts.GetValueOrDefault(kind) + 1;
            if (kept.Count < Verdict.MaxKept)
            {
                kept.Add(new Violation(kind, partition, detail));
            }
        }

        var sent = new Dictionary<string, History.Send>(StringComparer.Ordinal);
        var ackedAt = new Dictionary<(int, long), string>();
        var acked = 0;
        foreach (var s in sends)
        {
            sent[s.Value] = s;
            if (s.Offset is not { } offset)
            {
                continue;
            }

            acked++;
            if (ackedAt.TryGetValue((s.Partition, offset), out var other))
            {
                Report(ViolationKind.ConflictingAcks, s.Partition, $"'{other}' and '{s.Value}' both acknowledged at offset {offset}");
            }
            else
            {
                ackedAt[(s.Partition, offset)] = s.Value;
            }
        }

        // Where each value was read (distinct partition/offset pairs), and what each offset held.
        var readAt = new Dictionary<string, HashSet<(int, long)>>(StringComparer.Ordinal);
        var last = new Dictionary<(int Pass, int Partition), long>();
        foreach (var r in reads)
        {
            if (last.TryGetValue((r.Pass, r.Partition), out var previous) && r.Offset <= previous)
            {
                Report(ViolationKind.NonMonotonic, r.Partition, $"pass {r.Pass} read offset {r.Offset} after {previous}");
            }

            last[(r.Pass, r.Partition)] = r.Offset;
            if (!sent.ContainsKey(r.Value))
            {
                Report(ViolationKind.Phantom, r.Partition, $"'{r.Value}' read at offset {r.Offset} was never sent");
                continue;
            }

            if (!readAt.TryGetValue(r.Value, out var places))
            {
                readAt[r.Value] = places = [];
            }

            places.Add((r.Partition, r.Offset));
        }

        foreach (var s in sends)
        {
            readAt.TryGetValue(s.Value, out var places);
            if (s.Idempotent && places is { Count: > 1 })
            {
                Report(ViolationKind.Duplicate, s.Partition, $"'{s.Value}' read at {places.Count} offsets: {string.Join(", ", places)}");
            }

            if (s.Offset is { } offset && (places is null || !places.Contains((s.Partition, offset))))
            {
                var seen = places is null ? "never read" : "read at " + string.Join(", ", places);
                Report(ViolationKind.LostAck, s.Partition, $"'{s.Value}' acknowledged at offset {offset}, {seen}");
            }
        }

        var leaderOf = new Dictionary<(int Partition, int Epoch), int>();
        foreach (var o in leaders)
        {
            if (leaderOf.TryGetValue((o.Partition, o.Epoch), out var first))
            {
                if (first != o.Leader)
                {
                    Report(ViolationKind.TwoLeaders, o.Partition, $"epoch {o.Epoch}: brokers {first} and {o.Leader} accepted writes (offset {o.Offset})");
                }
            }
            else
            {
                leaderOf[(o.Partition, o.Epoch)] = o.Leader;
            }
        }

        return new Verdict
        {
            Sent = sends.Count,
            Acked = acked,
            Failed = failures,
            Read = reads.Count,
            LeaderObservations = leaders.Count,
            Counts = counts,
            Violations = kept,
        };
    }
}
