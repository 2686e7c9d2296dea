using System.Buffers.Binary;
using LogBroker.Storage.Internal;

namespace LogBroker.Storage.Indexes;

/// <summary>
/// Sparse map from offset to file position within one segment (<c>.index</c>).
/// </summary>
/// <remarks>
/// Format: 8-byte entries, big-endian <c>int32 relativeOffset</c> (a batch's base offset minus the
/// segment's base offset) and <c>int32 position</c> (that batch's byte position in the <c>.log</c>).
/// An entry is added when at least <c>IndexIntervalBytes</c> of log were appended since the previous
/// one; the first batch (position 0) never needs one. Entries are strictly increasing in both
/// fields, so a zero-filled tail is detected as not sane.
/// Lookup returns the greatest entry at or below the target: the batch holding the target starts at
/// or after that position, and the caller scans forward from it.
/// </remarks>
internal sealed class OffsetIndex(string path, int maxIndexBytes, long existingBytes)
    : IndexFile(path, maxIndexBytes, EntryBytes, existingBytes)
{
    public const int EntryBytes = 8;

    public void Append(MappedFile file, int relativeOffset, int position)
    {
        Span<byte> entry = stackalloc byte[EntryBytes];
        BinaryPrimitives.WriteInt32BigEndian(entry, relativeOffset);
        BinaryPrimitives.WriteInt32BigEndian(entry[4..], position);
        Write(file, entry);
    }

    public (int RelativeOffset, int Position) Read(MappedFile file, int n)
    {
        ReadOnlySpan<byte> entry = Entry(file, n);
        return (BinaryPrimitives.ReadInt32BigEndian(entry), BinaryPrimitives.ReadInt32BigEndian(entry[4..]));
    }

    /// <summary>The greatest entry with relative offset ≤ <paramref name="relativeOffset"/>, or (0, 0).</summary>
    public (int RelativeOffset, int Position) Lookup(MappedFile file, int relativeOffset)
    {
        int lo = 0, hi = Entries - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (int)((uint)(lo + hi) >> 1);
            if (Read(file, mid).RelativeOffset <= relativeOffset)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return found < 0 ? (0, 0) : Read(file, found);
    }

    /// <summary>Entries strictly increase and point inside a log of <paramref name="logSize"/> bytes.</summary>
    public bool IsSane(MappedFile file, int logSize)
    {
        if (Corrupt)
        {
            return false;
        }

        int previousOffset = 0, previousPosition = 0;
        for (int i = 0; i < Entries; i++)
        {
            (int relative, int position) = Read(file, i);
            if (relative <= previousOffset && i > 0 || relative < 0 || position <= previousPosition || position >= logSize)
            {
                return false;
            }

            previousOffset = relative;
            previousPosition = position;
        }

        return true;
    }
}
