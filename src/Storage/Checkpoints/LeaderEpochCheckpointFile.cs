using System.Globalization;
using System.Text;

namespace LogBroker.Storage.Checkpoints;

/// <summary>
/// The <c>leader-epoch-checkpoint</c> file of one partition: Kafka's checkpoint text format with one
/// "epoch start-offset" line per entry, written atomically (see <see cref="AtomicFile"/>).
/// </summary>
/// <remarks>
/// <code>
/// 0          format version
/// 3          number of entries
/// 0 0        epoch, its first offset
/// 2 40
/// 5 97
/// </code>
/// The file comes from disk, so it is not trusted: its size and entry count are bounded before
/// anything is allocated, and epochs must be strictly increasing and offsets non-decreasing. A file
/// that fails any check is reported as missing; the caller then rebuilds the entries from the log.
/// </remarks>
internal static class LeaderEpochCheckpointFile
{
    /// <summary>The file's name in the partition directory.</summary>
    public const string FileName = "leader-epoch-checkpoint";

    /// <summary>Most entries kept (and accepted from disk); older epochs are dropped beyond it.</summary>
    public const int MaxEntries = 16 * 1024;

    // Two header lines plus MaxEntries lines of at most "int long\n" (11 + 1 + 19 + 1 bytes).
    private const long MaxFileBytes = 64 + (MaxEntries * 32L);

    private const int Version = 0;

    public static void Write(string path, ReadOnlySpan<EpochEntry> entries)
    {
        var text = new StringBuilder(16 + (entries.Length * 16));
        text.Append(CultureInfo.InvariantCulture, $"{Version}\n{entries.Length}\n");
        foreach (EpochEntry entry in entries)
        {
            text.Append(CultureInfo.InvariantCulture, $"{entry.Epoch} {entry.StartOffset}\n");
        }

        AtomicFile.Write(path, Encoding.ASCII.GetBytes(text.ToString()));
    }

    /// <summary>The entries in the file, or null when it is missing, too large or malformed.</summary>
    /// <exception cref="IOException">The file exists but could not be read.</exception>
    public static EpochEntry[]? Read(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists || info.Length > MaxFileBytes)
        {
            return null;
        }

        string[] lines = File.ReadAllText(path, Encoding.ASCII).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length < 2 || lines[0] != "0" ||
            !int.TryParse(lines[1], NumberStyles.None, CultureInfo.InvariantCulture, out int count) ||
            count > MaxEntries || count != lines.Length - 2)
        {
            return null;
        }

        var entries = new EpochEntry[count];
        for (int i = 0; i < count; i++)
        {
            string[] fields = lines[i + 2].Split(' ');
            if (fields.Length != 2 ||
                !int.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out int epoch) ||
                !long.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out long offset) ||
                (i > 0 && (epoch <= entries[i - 1].Epoch || offset < entries[i - 1].StartOffset)))
            {
                return null;
            }

            entries[i] = new EpochEntry(epoch, offset);
        }

        return entries;
    }
}
