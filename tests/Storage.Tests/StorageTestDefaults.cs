using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Storage.Tests;

/// <summary>What the storage tests share: a log small enough that a few batches roll a segment, and one fixed start time.</summary>
internal static class StorageTestDefaults
{
    /// <summary>The epoch-milliseconds every fake clock here starts at (2023-11-14T22:13:20Z).</summary>
    public const long StartMs = 1_700_000_000_000;

    /// <summary>4 KiB segments and indexes, an index entry every 256 bytes, no time-based retention.</summary>
    public static readonly LogConfig SmallLog = LogConfig.Default with
    {
        SegmentBytes = 4096,
        IndexIntervalBytes = 256,
        SegmentIndexBytes = 4096,
        RetentionTime = null,
    };

    /// <summary>A fake clock at <see cref="StartMs"/>; time moves only when a test advances it.</summary>
    public static FakeTimeProvider Clock() => new(DateTimeOffset.FromUnixTimeMilliseconds(StartMs));
}
