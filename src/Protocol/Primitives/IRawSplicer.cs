namespace LogBroker.Protocol.Primitives;

/// <summary>
/// Lets a <see cref="KafkaWriter"/> leave large raw runs (stored record batches) where they are instead
/// of copying them into its output: the owner of the output sends them from their own memory, in place,
/// between the bytes written before and after.
/// </summary>
public interface IRawSplicer
{
    /// <summary>Shorter runs are always copied (a splice costs a separate send).</summary>
    int MinimumLength { get; }

    /// <summary>
    /// Called with a run about to be written, after everything before it was committed to the output.
    /// True when the splicer took the run (it must then keep the memory behind it alive until sent).
    /// </summary>
    bool TrySplice(ReadOnlySpan<byte> bytes);
}
