using LogBroker.Storage.Internal;

namespace LogBroker.Storage.Indexes;

/// <summary>
/// Common part of the offset and time indexes: a memory-mapped file of fixed-size big-endian
/// entries, preallocated to its maximum size while the segment is active and trimmed to the
/// entries in use when the segment is sealed or closed.
/// </summary>
/// <remarks>
/// The index is a cache of the log: it is never trusted without the subclass's <c>IsSane</c> check, and is
/// rebuilt from the log when it fails that check or after an unclean shutdown.
/// Thread-safety: one writer (holding the partition's append lock); readers need no lock, since the
/// entry count is published with a volatile write after the entry's bytes.
/// </remarks>
internal abstract class IndexFile
{
    private readonly MappedFile _file;
    private int _entries;

    /// <param name="path">The index file.</param>
    /// <param name="maxIndexBytes">Size to map for appending (rounded down to whole entries), or
    /// null to map an existing, sealed index read-only at its current length.</param>
    /// <param name="createNew">Create the file (it must not exist); otherwise open the existing one.</param>
    /// <param name="entrySize">Bytes per entry.</param>
    protected IndexFile(string path, int? maxIndexBytes, bool createNew, int entrySize)
    {
        EntrySize = entrySize;
        long existing = createNew ? 0 : new FileInfo(path).Length;
        int? capacity = maxIndexBytes is { } max ? Math.Max(entrySize, max / entrySize * entrySize) : null;
        if (existing % entrySize != 0 || existing > (capacity ?? int.MaxValue))
        {
            // Torn or foreign: the caller sees IsSane == false and rebuilds.
            Corrupt = true;
            existing = 0;
        }

        _file = MappedFile.Open(path, capacity ?? (int)(existing / entrySize * entrySize), createNew);
        _entries = (int)(existing / entrySize);
    }

    protected int EntrySize { get; }

    /// <summary>True when the file's length alone showed it cannot be a valid index.</summary>
    protected bool Corrupt { get; private set; }

    public int Entries => Volatile.Read(ref _entries);

    public int MaxEntries => _file.Capacity / EntrySize;

    public bool IsFull => Entries >= MaxEntries;

    public string Path => _file.Path;

    /// <summary>Forgets every entry (before a rebuild from the log).</summary>
    public void Reset()
    {
        Corrupt = false;
        Volatile.Write(ref _entries, 0);
    }

    /// <summary>Shrinks the file to the entries in use (on roll and on clean close).</summary>
    public void Trim() => _file.SetFileLength((long)Entries * EntrySize);

    public void FlushToDisk() => _file.FlushToDisk();

    /// <summary>Unmaps the index; called by the segment when its last lease is gone.</summary>
    public void Close() => _file.Unmap();

    protected ReadOnlySpan<byte> Entry(int n) => _file.Slice(n * EntrySize, EntrySize);

    protected Span<byte> NextEntry() => _file.Slice(Entries * EntrySize, EntrySize);

    protected void Publish() => Volatile.Write(ref _entries, _entries + 1);
}
