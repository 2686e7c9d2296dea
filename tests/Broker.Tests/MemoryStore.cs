using LogBroker.Broker.Groups;

namespace LogBroker.Broker.Tests;

/// <summary>An offset store in memory, with a switch to make the next append fail.</summary>
internal sealed class MemoryStore : IOffsetStore
{
    public Dictionary<(string, string, int), CommittedOffset> Entries { get; } = [];

    /// <summary>When set, the next Append throws it (a failing disk).</summary>
    public Exception? FailNext { get; set; }

    public long Appends { get; private set; }

    /// <summary>Runs inside every Append, before it stores anything (to see what else can happen meanwhile).</summary>
    public Action? OnAppend { get; set; }

    public Task WhenDurableAsync(OffsetPosition position) => Task.CompletedTask;

    public OffsetPosition Append(string group, IReadOnlyList<(string Topic, int Partition, CommittedOffset? Offset)> changes)
    {
        if (FailNext is { } failure)
        {
            FailNext = null;
            throw failure;
        }

        OnAppend?.Invoke();
        Appends++;
        foreach ((string topic, int partition, CommittedOffset? offset) in changes)
        {
            if (offset is null)
            {
                Entries.Remove((group, topic, partition));
            }
            else
            {
                Entries[(group, topic, partition)] = offset;
            }
        }

        return new OffsetPosition(Appends);
    }

    public IEnumerable<(string Group, string Topic, int Partition, CommittedOffset Offset)> Load() =>
        [.. Entries.Select(e => (e.Key.Item1, e.Key.Item2, e.Key.Item3, e.Value))];
}
