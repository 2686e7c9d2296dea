using System.Globalization;

namespace LogBroker.Storage;

/// <summary>A topic name and a partition number; its directory is <c>&lt;topic&gt;-&lt;partition&gt;</c>.</summary>
public readonly record struct TopicPartition(string Topic, int Partition)
{
    /// <summary>Kafka's limit on topic name length.</summary>
    public const int MaxTopicLength = 249;

    /// <summary>The partition's directory name.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Topic}-{Partition}");

    /// <summary>Kafka's rule: 1–249 characters of ASCII letters, digits, '.', '_' and '-', and not "." or "..".</summary>
    public static bool IsValidTopicName(string? topic)
    {
        if (string.IsNullOrEmpty(topic) || topic.Length > MaxTopicLength || topic is "." or "..")
        {
            return false;
        }

        foreach (char c in topic)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Parses a partition directory name; false for anything else (such as a deleted partition's).</summary>
    public static bool TryParseDirectoryName(string name, out TopicPartition partition)
    {
        partition = default;
        int dash = name.LastIndexOf('-');
        if (dash <= 0 || !int.TryParse(name.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int number))
        {
            return false;
        }

        string topic = name[..dash];
        if (!IsValidTopicName(topic))
        {
            return false;
        }

        partition = new TopicPartition(topic, number);
        return true;
    }
}
