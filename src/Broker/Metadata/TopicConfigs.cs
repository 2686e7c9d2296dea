using System.Globalization;
using LogBroker.Storage;

namespace LogBroker.Broker.Metadata;

/// <summary>
/// The topic configs LogBroker honours, by their Kafka names, and how each maps onto
/// <see cref="LogConfig"/>. A config not listed here is refused with INVALID_CONFIG rather than
/// silently ignored. Every value is checked before it is converted: a number too large for a
/// TimeSpan (such as 9223372036854775807 for retention.ms, which tools send) means "infinite" for the
/// configs that have one (retention.ms, flush.ms) and the longest span for segment.ms, never an
/// exception. Minimums are Kafka's (segment.bytes 1024, segment.index.bytes 12, segment.ms 1).
/// </summary>
internal static class TopicConfigs
{
    public const string CleanupPolicy = "cleanup.policy";
    public const string RetentionMs = "retention.ms";
    public const string RetentionBytes = "retention.bytes";
    public const string SegmentBytes = "segment.bytes";
    public const string SegmentMs = "segment.ms";
    public const string SegmentIndexBytes = "segment.index.bytes";
    public const string IndexIntervalBytes = "index.interval.bytes";
    public const string MaxMessageBytes = "max.message.bytes";
    public const string FlushMessages = "flush.messages";
    public const string FlushMs = "flush.ms";
    public const string MessageTimestampType = "message.timestamp.type";
    public const string CompressionType = "compression.type";

    /// <summary>The compression.type values Kafka accepts for a topic; a codec makes Produce re-encode batches in another one (BatchRecompressor).</summary>
    private static readonly string[] CompressionTypes = ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"];

    /// <summary>Milliseconds from which a duration is infinite: TimeSpan cannot hold more (Kafka treats such values as "never").</summary>
    private static readonly long MaxDurationMs = (long)TimeSpan.MaxValue.TotalMilliseconds;
    public const string MessageTimestampBeforeMaxMs = "message.timestamp.before.max.ms";
    public const string MessageTimestampAfterMaxMs = "message.timestamp.after.max.ms";

    /// <summary>Cluster mode: the fewest in-sync replicas an acks=all produce is accepted with (stored only; the replica manager reads it).</summary>
    public const string MinInsyncReplicas = "min.insync.replicas";

    /// <summary>Every supported config name, in the order DescribeConfigs lists them.</summary>
    public static readonly string[] Names =
    [
        CleanupPolicy, RetentionMs, RetentionBytes, SegmentBytes, SegmentMs, SegmentIndexBytes,
        IndexIntervalBytes, MaxMessageBytes, FlushMessages, FlushMs, MessageTimestampType, CompressionType,
        MessageTimestampBeforeMaxMs, MessageTimestampAfterMaxMs, MinInsyncReplicas,
    ];

    /// <summary>Applies <paramref name="name"/>=<paramref name="value"/> to <paramref name="config"/>; false with a reason when not allowed.</summary>
    public static bool TryApply(LogConfig config, string name, string? value, out LogConfig result, out string? error)
    {
        result = config;
        error = null;
        if (value is null)
        {
            error = $"Config '{name}' needs a value.";
            return false;
        }

        bool ok = true;
        switch (name)
        {
            case CleanupPolicy:
                ok = value == "delete";
                error = ok ? null : "Only cleanup.policy=delete is supported (compaction is not implemented).";
                break;
            case RetentionMs:
                ok = TryLong(value, out long ms) && ms >= -1 && ms != 0;
                result = ok ? config with { RetentionTime = ms == -1 ? null : Duration(ms) } : config;
                break;
            case RetentionBytes:
                ok = TryLong(value, out long bytes) && bytes >= -1;
                result = config with { RetentionBytes = bytes == -1 ? null : bytes };
                break;
            case SegmentBytes:
                ok = TryInt(value, out int segmentBytes) && segmentBytes >= 1024;
                result = config with { SegmentBytes = segmentBytes };
                break;
            case SegmentMs:
                ok = TryLong(value, out long segmentMs) && segmentMs > 0;
                result = ok ? config with { SegmentAge = Duration(segmentMs) ?? TimeSpan.MaxValue } : config;
                break;
            case SegmentIndexBytes:
                ok = TryInt(value, out int indexBytes) && indexBytes >= 12;
                result = config with { SegmentIndexBytes = indexBytes };
                break;
            case IndexIntervalBytes:
                ok = TryInt(value, out int interval) && interval >= 0;
                result = config with { IndexIntervalBytes = interval };
                break;
            case MaxMessageBytes:
                ok = TryInt(value, out int maxMessage) && maxMessage >= 61;
                result = config with { MaxMessageBytes = maxMessage };
                break;
            case FlushMessages:
                ok = TryLong(value, out long flushMessages) && flushMessages > 0;
                result = config with { FlushMessages = flushMessages == long.MaxValue ? null : flushMessages };
                break;
            case FlushMs:
                ok = TryLong(value, out long flushMs) && flushMs > 0;
                result = ok ? config with { FlushInterval = Duration(flushMs) } : config;
                break;
            case MessageTimestampType:
                ok = value == "CreateTime";
                error = ok ? null : "Only message.timestamp.type=CreateTime is supported.";
                break;
            case CompressionType:
                ok = Array.IndexOf(CompressionTypes, value) >= 0;
                error = ok ? null : $"Invalid value '{value}' for config '{name}': one of {string.Join(", ", CompressionTypes)}.";
                break;
            case MessageTimestampBeforeMaxMs:
                ok = TryLong(value, out long beforeMs) && beforeMs >= 0;
                result = config with { MessageTimestampBeforeMax = Window(beforeMs) };
                break;
            case MessageTimestampAfterMaxMs:
                ok = TryLong(value, out long afterMs) && afterMs >= 0;
                result = config with { MessageTimestampAfterMax = Window(afterMs) };
                break;
            case MinInsyncReplicas:
                ok = TryInt(value, out int minIsr) && minIsr >= 1;
                break;
            default:
                error = $"Unknown or unsupported topic config '{name}'.";
                return false;
        }

        if (!ok)
        {
            error ??= $"Invalid value '{value}' for config '{name}'.";
            result = config;
        }

        return ok;
    }

    /// <summary>The value of <paramref name="name"/> in force for <paramref name="topic"/>: its override for configs that only are stored, else <see cref="Value(LogConfig, string)"/>.</summary>
    public static string Value(Topic topic, string name) =>
        name is CompressionType or MinInsyncReplicas && topic.Overrides.TryGetValue(name, out string? stored) ? stored : Value(topic.Config, name);

    /// <summary>The value of <paramref name="name"/> in force for <paramref name="config"/>, as Kafka writes it.</summary>
    public static string Value(LogConfig config, string name) => name switch
    {
        CleanupPolicy => "delete",
        RetentionMs => config.RetentionTime is { } t ? Ms(t) : "-1",
        RetentionBytes => (config.RetentionBytes ?? -1).ToString(CultureInfo.InvariantCulture),
        SegmentBytes => config.SegmentBytes.ToString(CultureInfo.InvariantCulture),
        SegmentMs => Ms(config.SegmentAge),
        SegmentIndexBytes => config.SegmentIndexBytes.ToString(CultureInfo.InvariantCulture),
        IndexIntervalBytes => config.IndexIntervalBytes.ToString(CultureInfo.InvariantCulture),
        MaxMessageBytes => config.MaxMessageBytes.ToString(CultureInfo.InvariantCulture),
        FlushMessages => (config.FlushMessages ?? long.MaxValue).ToString(CultureInfo.InvariantCulture),
        FlushMs => config.FlushInterval is { } f ? Ms(f) : long.MaxValue.ToString(CultureInfo.InvariantCulture),
        MessageTimestampType => "CreateTime",
        CompressionType => "producer",
        MinInsyncReplicas => "1",
        MessageTimestampBeforeMaxMs => config.MessageTimestampBeforeMax is { } before ? Ms(before) : long.MaxValue.ToString(CultureInfo.InvariantCulture),
        MessageTimestampAfterMaxMs => config.MessageTimestampAfterMax is { } after ? Ms(after) : long.MaxValue.ToString(CultureInfo.InvariantCulture),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    /// <summary>A positive duration in milliseconds; null (infinite) from <see cref="MaxDurationMs"/> on, where TimeSpan would overflow.</summary>
    private static TimeSpan? Duration(long ms) => ms >= MaxDurationMs ? null : TimeSpan.FromMilliseconds(ms);

    /// <summary>A timestamp window in ms; Long.MaxValue, or anything past what a TimeSpan holds, is no limit.</summary>
    private static TimeSpan? Window(long ms) => ms >= MaxDurationMs ? null : TimeSpan.FromMilliseconds(ms);

    private static string Ms(TimeSpan t) => ((long)t.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);

    private static bool TryLong(string s, out long v) => long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out v);

    private static bool TryInt(string s, out int v) => int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out v);
}
