using LogBroker.Storage.Internal;

namespace LogBroker.Storage.Indexes;

/// <summary>
/// Common part of the offset and time indexes: a file of fixed-size big-endian entries, appended
/// with pwrite(2) and read through the segment's read-only mapping of it (see
/// <see cref="MappedFile"/>). This object holds only the entry count; the descriptor and mapping
/// belong to the segment's open <see cref="SegmentFiles"/>, passed to every call.
/// </summary>
/// <remarks>
/// The file is exactly as long as its entries (no preallocation), except after a truncation, which
/// zeroes dropped entries in place rather than shrinking a file readers may have mapped; such a
/// zero tail fails the sanity check at the next open and the index is rebuilt.
/// The index is a cache of the log: it is never trusted without the subclass's <c>IsSane</c> check, and is
/// rebuilt from the log when it fails that check or after an unclean shutdown.
/// Thread-safety: one writer (holding the partition's append lock); readers need no lock, since the
/// entry count is published with a volatile write after the entry's bytes.
/// </remarks>
internal abstract class IndexFile
{
    private int _entries;

    /// <param name="path">The index file.</param>
    /// <param name="maxIndexBytes">The most bytes the index may grow to (rounded down to whole entries, at least one).</param>
    /// <param name="entrySize">Bytes per entry.</param>
    /// <param name="existingBytes">Length of the file on disk, or 0 for a new index.</param>
    protected IndexFile(string path, int maxIndexBytes, int entrySize, long existingBytes)
    {
        Path = path;
        EntrySize = entrySize;
        MaxEntries = Math.Max(1, maxIndexBytes / entrySize);
        if (existingBytes % entrySize != 0 || existingBytes / entrySize > MaxEntries)
        {
            // Torn or foreign: the caller sees IsSane == false and rebuilds.
            Corrupt = true;
            existingBytes = 0;
        }

        _entries = (int)(existingBytes / entrySize);
    }

    protected int EntrySize { get; }

    /// <summary>True when the file's length alone showed it cannot be a valid index.</summary>
    protected bool Corrupt { get; private set; }

    public int Entries => Volatile.Read(ref _entries);

    public int MaxEntries { get; private set; }

    public bool IsFull => Entries >= MaxEntries;

    public string Path { get; }

    /// <summary>Bytes a mapping must cover to read every entry of an index of <paramref name="entries"/>.</summary>
    public int BytesFor(int entries) => entries * EntrySize;

    /// <summary>Allows growth to <paramref name="maxIndexBytes"/> again (a sealed segment made active by a truncation).</summary>
    public void AllowGrowth(int maxIndexBytes) => MaxEntries = Math.Max(Entries, Math.Max(1, maxIndexBytes / EntrySize));

    /// <summary>Forgets every entry (before a rebuild from the log).</summary>
    public virtual void Reset()
    {
        Corrupt = false;
        Volatile.Write(ref _entries, 0);
    }

    protected ReadOnlySpan<byte> Entry(MappedFile file, int n) => file.Slice(n * EntrySize, EntrySize);

    /// <summary>pwrite of the next entry, then the count is published.</summary>
    protected void Write(MappedFile file, ReadOnlySpan<byte> entry)
    {
        int entries = _entries;
        file.Write((long)entries * EntrySize, entry);
        Volatile.Write(ref _entries, entries + 1);
    }
}
