using System.Text;
using LogBroker.TestKit;

namespace LogBroker.Storage.Tests;

/// <summary>Deleting partitions: names that fit NAME_MAX for the longest topics, batches, and leftovers of a crash.</summary>
public sealed class LogManagerDeleteTests : IDisposable
{
    private readonly TempDirectory _dir = new("manager-delete");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(1, 0)]
    [InlineData(TopicPartition.MaxTopicLength, 0)]
    [InlineData(TopicPartition.MaxTopicLength, 99_999)]
    [InlineData(TopicPartition.MaxTopicLength, int.MaxValue)]
    public void The_name_a_deleted_partition_is_renamed_to_fits_a_file_name(int topicLength, int partition)
    {
        string name = LogManager.DeletedDirectoryName(new TopicPartition(new string('t', topicLength), partition));
        Assert.True(Encoding.UTF8.GetByteCount(name) <= 255, $"{name.Length} bytes");
        Assert.EndsWith("-delete", name, StringComparison.Ordinal);
        Assert.False(TopicPartition.TryParseDirectoryName(name, out _));
    }

    [Fact]
    public void Partitions_of_the_longest_topic_name_are_deleted_in_one_batch_and_a_new_log_starts_empty()
    {
        string topic = new('z', TopicPartition.MaxTopicLength);
        var partitions = new List<TopicPartition>();
        using (LogManager manager = LogManager.Open(Options()))
        {
            for (int p = 0; p < 12; p++)
            {
                partitions.Add(new TopicPartition(topic, p));
                manager.GetOrCreate(partitions[^1]).Append(Batches.Create(2));
            }

            Assert.Equal(12, manager.DeleteAll([.. partitions, new TopicPartition("absent", 0)]));
            Assert.Empty(Directory.EnumerateDirectories(_dir.Path));
            Assert.Equal(0, manager.GetOrCreate(partitions[11]).LogEndOffset);
        }
    }

    [Fact]
    public void A_directory_renamed_aside_by_a_delete_that_a_crash_interrupted_is_removed_at_open()
    {
        string aside = Path.Combine(_dir.Path, LogManager.DeletedDirectoryName(new TopicPartition(new string('q', 249), 7)));
        Directory.CreateDirectory(aside);
        File.WriteAllText(Path.Combine(aside, "00000000000000000000.log"), "old data");
        using LogManager manager = LogManager.Open(Options());
        Assert.False(Directory.Exists(aside));
        Assert.Empty(manager.Partitions);
    }

    private StorageOptions Options() => new()
    {
        DataDirectory = _dir.Path,
        Log = LogConfig.Default with { SegmentBytes = 4096, SegmentIndexBytes = 4096, IndexIntervalBytes = 256 },
    };
}
