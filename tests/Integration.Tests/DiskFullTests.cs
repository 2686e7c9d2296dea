using System.Diagnostics;
using System.Text;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests;

/// <summary>
/// The broker process on a small, real file system that fills up: a tmpfs, and a loop-mounted
/// ext4 image (delayed allocation: the production case). The process must survive, produce must get
/// KAFKA_STORAGE_ERROR, fetch of acknowledged data must keep working, restarts on the full disk
/// (SIGTERM and kill -9) must recover, and once space is freed writes must work again.
/// </summary>
public sealed class DiskFullTests
{
    private const int Partitions = 8;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_full_disk_gives_storage_errors_keeps_acknowledged_data_and_recovers(bool ext4)
    {
        // A 64 MiB tmpfs or loop-mounted ext4 image (tests run as root); skipped, saying why, where mounting is impossible.
        using SmallFileSystem? disk = SmallFileSystem.TryMount("diskfull", 64, ext4, out string whyNot);
        Assert.SkipWhen(disk is null, whyNot);
        string data = Path.Combine(disk.Path, "data");
        Directory.CreateDirectory(data);
        int port = BrokerProcess.FreePort();
        string[] settings =
        [
            "--Storage:Log:SegmentBytes=1048576",
            "--Storage:Log:IndexIntervalBytes=0", // an index entry per batch: index writes all the time
            "--Storage:FailedPartitionRetryInterval=00:00:01",
        ];
        BrokerProcess? broker = await BrokerProcess.StartAsync(data, port, settings);
        try
        {
            string topic = StorageScenario.Topic("full", 0);
            var acked = new List<(int Partition, long Offset, string Tag)>();
            using (RawConnection connection = await RawConnection.OpenAsync(port))
            {
                await StorageScenario.CreateTopicsAsync(connection, "full", 1, Partitions, 1, Patience);
                await ProduceRoundsAsync(connection, topic, 0, 20, acked, expectErrors: false);

                string filler = disk.Fill();
                int storageErrors = await ProduceRoundsAsync(connection, topic, 100, 40, acked, expectErrors: true);
                Assert.True(storageErrors > 0, "the disk never filled up");
                Assert.False(broker.HasExited, "the broker died on the full disk");
                await AssertAckedAsync(connection, topic, acked);

                // Restarts on the still full disk: clean, then a crash.
                foreach (bool kill in (bool[])[false, true])
                {
                    if (kill)
                    {
                        await broker!.KillAsync();
                    }
                    else
                    {
                        await broker!.TerminateAsync();
                    }

                    await broker.DisposeAsync();
                    broker = null;
                    broker = await BrokerProcess.StartAsync(data, port, settings);
                    using RawConnection again = await RawConnection.OpenAsync(port);
                    await AssertAckedAsync(again, topic, acked);
                }

                // Space comes back: writes work again without a restart (after the retry interval).
                File.Delete(filler);
                using RawConnection after = await RawConnection.OpenAsync(port);
                var deadline = Stopwatch.StartNew();
                int errors;
                do
                {
                    await Task.Delay(500, TestContext.Current.CancellationToken);
                    errors = await ProduceRoundsAsync(after, topic, 1000 + (int)deadline.ElapsedMilliseconds, 1, acked, expectErrors: true);
                }
                while (errors > 0 && deadline.Elapsed < TimeSpan.FromSeconds(20));

                Assert.Equal(0, errors);
                Assert.False(broker!.HasExited);
                await AssertAckedAsync(after, topic, acked);
            }
        }
        finally
        {
            if (broker is not null)
            {
                await broker.DisposeAsync();
            }
        }
    }

    /// <summary>Produces <paramref name="rounds"/> records of 2 KiB to every partition; returns how many got KAFKA_STORAGE_ERROR (any other error fails).</summary>
    private static async Task<int> ProduceRoundsAsync(RawConnection connection, string topic, int firstRound, int rounds,
        List<(int, long, string)> acked, bool expectErrors)
    {
        int storageErrors = 0;
        for (int round = firstRound; round < firstRound + rounds; round++)
        {
            string suffix = $"#{round}";
            ProduceResponse response = await StorageScenario.ProduceAsync(connection, topic, Partitions, Patience, acks: -1, valueBytes: 2048, round: suffix);
            foreach (ProduceResponse.PartitionProduceResponse partition in response.Responses.Single().PartitionResponses)
            {
                if (partition.ErrorCode == 0)
                {
                    acked.Add((partition.Index, partition.BaseOffset, StorageScenario.Tag(topic, partition.Index) + suffix));
                    continue;
                }

                Assert.True(expectErrors, $"{topic}-{partition.Index}: error {partition.ErrorCode} before the disk was full");
                Assert.Equal((short)ErrorCode.KafkaStorageError, partition.ErrorCode);
                storageErrors++;
            }
        }

        return storageErrors;
    }

    private static async Task AssertAckedAsync(RawConnection connection, string topic, List<(int Partition, long Offset, string Tag)> acked)
    {
        Dictionary<(int, long), byte[]> stored = await StorageScenario.ReadAllAsync(connection, topic, Partitions, Patience);
        foreach ((int partition, long offset, string tag) in acked)
        {
            Assert.True(stored.TryGetValue((partition, offset), out byte[]? bytes), $"{topic}-{partition} lost offset {offset}");
            Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(tag + "-0")) >= 0, $"{topic}-{partition} offset {offset} holds another record");
        }
    }
}
