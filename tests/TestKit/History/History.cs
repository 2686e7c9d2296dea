namespace LogBroker.TestKit.History;

/// <summary>
/// A record of what clients did and saw during a fault run (Jepsen's idea): every send (value, partition), its
/// acknowledgement (offset) or failure, every read (pass, partition, offset, value), and observations of which
/// broker led a partition in which leader epoch and accepted a write at which offset. Thread-safe: producers,
/// consumers and the fault loop record concurrently. <see cref="Check"/> gives the verdict.
/// </summary>
public sealed class History
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Send> _sends = new(StringComparer.Ordinal);
    private readonly List<Read> _reads = [];
    private readonly List<LeaderObservation> _leaders = [];
    private int _failures;

    /// <summary>A value was handed to a producer for <paramref name="partition"/>; values must be unique per run.</summary>
    public void Sent(string value, int partition, bool idempotent = true)
    {
        lock (_gate)
        {
            if (!_sends.TryAdd(value, new Send(value, partition, idempotent)))
            {
                throw new ArgumentException($"Value '{value}' was sent twice: a history needs unique values.", nameof(value));
            }
        }
    }

    /// <summary>The send of <paramref name="value"/> was acknowledged at <paramref name="offset"/>.</summary>
    public void Acked(string value, long offset)
    {
        lock (_gate)
        {
            Get(value).Offset = offset;
        }
    }

    /// <summary>The send of <paramref name="value"/> failed (it may or may not be in the log: indeterminate).</summary>
    public void Failed(string value)
    {
        lock (_gate)
        {
            Get(value).Failed = true;
            _failures++;
        }
    }

    /// <summary>A consumer read <paramref name="value"/> at <paramref name="offset"/> in read pass <paramref name="pass"/>.</summary>
    public void ReadAt(int pass, int partition, long offset, string value)
    {
        lock (_gate)
        {
            _reads.Add(new Read(pass, partition, offset, value));
        }
    }

    /// <summary>Broker <paramref name="leader"/> accepted a write at <paramref name="offset"/> as leader of <paramref name="epoch"/>.</summary>
    public void LeaderObserved(int partition, int epoch, int leader, long offset)
    {
        lock (_gate)
        {
            _leaders.Add(new LeaderObservation(partition, epoch, leader, offset));
        }
    }

    /// <summary>Checks the history recorded so far.</summary>
    public Verdict Check()
    {
        lock (_gate)
        {
            return HistoryChecker.Check([.. _sends.Values], [.. _reads], [.. _leaders], _failures);
        }
    }

    private Send Get(string value) =>
        _sends.TryGetValue(value, out var send) ? send : throw new ArgumentException($"Value '{value}' was never sent.", nameof(value));

    /// <summary>One send and what came of it.</summary>
    internal sealed class Send(string value, int partition, bool idempotent)
    {
        public string Value { get; } = value;

        public int Partition { get; } = partition;

        public bool Idempotent { get; } = idempotent;

        /// <summary>The acknowledged offset, or null when not (yet) acknowledged.</summary>
        public long? Offset { get; set; }

        public bool Failed { get; set; }
    }

    /// <summary>One record a consumer read.</summary>
    internal readonly record struct Read(int Pass, int Partition, long Offset, string Value);

    /// <summary>One write accepted by a leader in an epoch.</summary>
    internal readonly record struct LeaderObservation(int Partition, int Epoch, int Leader, long Offset);
}
