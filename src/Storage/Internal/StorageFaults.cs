namespace LogBroker.Storage.Internal;

/// <summary>A file operation of a segment that <see cref="StorageFaults"/> can make fail.</summary>
internal enum StorageOperation
{
    /// <summary>open(2) of a segment file (log or index).</summary>
    Open,

    /// <summary>pwrite(2) into a segment file (a batch, an index entry, zeros of a truncation).</summary>
    Write,

    /// <summary>fsync(2) of a segment file.</summary>
    Flush,

    /// <summary>mmap(2) of a segment file for reading.</summary>
    Map,
}

/// <summary>
/// The storage engine's fault seam (in the spirit of FASTER's <c>LocalMemoryDevice</c>, but over
/// the real files): every open, write, fsync and mmap of a segment file asks <see cref="Inject"/>
/// first and throws what it returns, so that tests can fail exactly one operation of one file and
/// check what the partition and the broker make of it. One per data directory
/// (<see cref="LogManager.Faults"/>); nothing is injected unless a test sets it.
/// </summary>
internal sealed class StorageFaults
{
    /// <summary>Returns the exception the operation on the file at the path fails with, or null to let it run.</summary>
    public Func<StorageOperation, string, Exception?>? Inject { get; set; }

    /// <summary>Throws the injected failure of <paramref name="operation"/> on <paramref name="path"/>, if any.</summary>
    public void Check(StorageOperation operation, string path)
    {
        if (Inject?.Invoke(operation, path) is { } failure)
        {
            throw failure;
        }
    }
}
