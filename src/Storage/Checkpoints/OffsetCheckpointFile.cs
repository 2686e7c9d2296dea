using System.Globalization;
using System.Text;

namespace LogBroker.Storage.Checkpoints;

/// <summary>
/// A file of one offset per partition, written atomically: Kafka's checkpoint text format.
/// </summary>
/// <remarks>
/// <code>
/// 0                      format version
/// 2                      number of entries
/// orders 0 1234          topic, partition, offset
/// orders 1 99
/// </code>
/// Written to <c>&lt;name&gt;.tmp</c>, fsynced, renamed over the file and the directory fsynced, so
/// after a crash the file is either the old or the new one, never a mix. A file that does not parse
/// is reported as missing: the caller then falls back to the safe default (full recovery).
/// </remarks>
internal static class OffsetCheckpointFile
{
    private const int Version = 0;

    public static void Write(string path, IReadOnlyCollection<KeyValuePair<TopicPartition, long>> offsets)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{Version}\n{offsets.Count}\n");
        foreach ((TopicPartition partition, long offset) in offsets)
        {
            text.Append(CultureInfo.InvariantCulture, $"{partition.Topic} {partition.Partition} {offset}\n");
        }

        AtomicFile.Write(path, Encoding.ASCII.GetBytes(text.ToString()));
    }

    /// <summary>The offsets in the file, or null when it is missing or malformed.</summary>
    public static Dictionary<TopicPartition, long>? Read(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        string[] lines = File.ReadAllText(path, Encoding.ASCII).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length < 2 || lines[0] != "0" ||
            !int.TryParse(lines[1], NumberStyles.None, CultureInfo.InvariantCulture, out int count) ||
            count != lines.Length - 2)
        {
            return null;
        }

        var offsets = new Dictionary<TopicPartition, long>(count);
        for (int i = 2; i < lines.Length; i++)
        {
            string[] fields = lines[i].Split(' ');
            if (fields.Length != 3 || !TopicPartition.IsValidTopicName(fields[0]) ||
                !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out int partition) ||
                !long.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out long offset))
            {
                return null;
            }

            offsets[new TopicPartition(fields[0], partition)] = offset;
        }

        return offsets;
    }
}
