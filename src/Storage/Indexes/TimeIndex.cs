using System.Buffers.Binary;
using LogBroker.Storage.Internal;

namespace LogBroker.Storage.Indexes;

/// <summary>
/// Sparse map from timestamp to offset within one segment (<c>.timeindex</c>).
/// </summary>
/// <remarks>
/// Format: 12-byte entries, big-endian <c>int64 timestamp</c> and <c>int32 relativeOffset</c>.
/// An entry (T, r) says: every batch up to and including the batch starting at relative offset r
/// has a max timestamp ≤ T, and the batch at r is the one that reached T. Entries are written
/// beside offset-index entries (and once more when the segment is sealed) whenever the segment's
/// max timestamp grew, so timestamps strictly increase. To find the first batch with max
/// timestamp ≥ t, start at the greatest entry whose timestamp is &lt; t (every batch through it is
/// earlier) and scan forward. The last entry is also kept in memory, so appending never reads the file.
/// </remarks>
internal sealed class TimeIndex(string path, int maxIndexBytes, long existingBytes)
    : IndexFile(path, maxIndexBytes, EntryBytes, existingBytes)
{
    public const int EntryBytes = 12;

    private (long Timestamp, int RelativeOffset)? _last;

    /// <summary>The last entry, or null when there is none (after <see cref="LoadLast"/> for an existing index).</summary>
    public (long Timestamp, int RelativeOffset)? Last => _last;

    public void Append(MappedFile file, long timestamp, int relativeOffset)
    {
        Span<byte> entry = stackalloc byte[EntryBytes];
        BinaryPrimitives.WriteInt64BigEndian(entry, timestamp);
        BinaryPrimitives.WriteInt32BigEndian(entry[8..], relativeOffset);
        Write(file, entry);
        _last = (timestamp, relativeOffset);
    }

    /// <summary>Reads the last entry of an existing index into memory.</summary>
    public void LoadLast(MappedFile file) => _last = Entries == 0 ? null : Read(file, Entries - 1);

    public override void Reset()
    {
        base.Reset();
        _last = null;
    }

    public (long Timestamp, int RelativeOffset) Read(MappedFile file, int n)
    {
        ReadOnlySpan<byte> entry = Entry(file, n);
        return (BinaryPrimitives.ReadInt64BigEndian(entry), BinaryPrimitives.ReadInt32BigEndian(entry[8..]));
    }

    /// <summary>The greatest entry with timestamp &lt; <paramref name="timestamp"/>, or null.</summary>
    public (long Timestamp, int RelativeOffset)? LookupBefore(MappedFile file, long timestamp)
    {
        int lo = 0, hi = Entries - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (int)((uint)(lo + hi) >> 1);
            if (Read(file, mid).Timestamp < timestamp)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return found < 0 ? null : Read(file, found);
    }

    /// <summary>Timestamps strictly increase, offsets never decrease and stay below <paramref name="nextRelativeOffset"/>.</summary>
    public bool IsSane(MappedFile file, long nextRelativeOffset)
    {
        if (Corrupt)
        {
            return false;
        }

        for (int i = 0; i < Entries; i++)
        {
            (long timestamp, int relative) = Read(file, i);
            if (relative < 0 || relative >= nextRelativeOffset ||
                i > 0 && (timestamp <= Read(file, i - 1).Timestamp || relative < Read(file, i - 1).RelativeOffset))
            {
                return false;
            }
        }

        return true;
    }
}
