using System.Buffers.Binary;

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
/// earlier) and scan forward.
/// </remarks>
internal sealed class TimeIndex(string path, int? maxIndexBytes, bool createNew)
    : IndexFile(path, maxIndexBytes, createNew, EntryBytes)
{
    public const int EntryBytes = 12;

    public void Append(long timestamp, int relativeOffset)
    {
        Span<byte> entry = NextEntry();
        BinaryPrimitives.WriteInt64BigEndian(entry, timestamp);
        BinaryPrimitives.WriteInt32BigEndian(entry[8..], relativeOffset);
        Publish();
    }

    public (long Timestamp, int RelativeOffset) this[int n]
    {
        get
        {
            ReadOnlySpan<byte> entry = Entry(n);
            return (BinaryPrimitives.ReadInt64BigEndian(entry), BinaryPrimitives.ReadInt32BigEndian(entry[8..]));
        }
    }

    /// <summary>The last entry, or null when there is none.</summary>
    public (long Timestamp, int RelativeOffset)? Last => Entries == 0 ? null : this[Entries - 1];

    /// <summary>The greatest entry with timestamp &lt; <paramref name="timestamp"/>, or null.</summary>
    public (long Timestamp, int RelativeOffset)? LookupBefore(long timestamp)
    {
        int lo = 0, hi = Entries - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (int)((uint)(lo + hi) >> 1);
            if (this[mid].Timestamp < timestamp)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return found < 0 ? null : this[found];
    }

    /// <summary>Timestamps strictly increase, offsets never decrease and stay below <paramref name="nextRelativeOffset"/>.</summary>
    public bool IsSane(long nextRelativeOffset)
    {
        if (Corrupt)
        {
            return false;
        }

        for (int i = 0; i < Entries; i++)
        {
            (long timestamp, int relative) = this[i];
            if (relative < 0 || relative >= nextRelativeOffset ||
                i > 0 && (timestamp <= this[i - 1].Timestamp || relative < this[i - 1].RelativeOffset))
            {
                return false;
            }
        }

        return true;
    }
}
