using System.Diagnostics;
using System.Globalization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests;

/// <summary>
/// Storage faults of the broker as a real process: here, its descriptor limit (RLIMIT_NOFILE)
/// reached below <c>Storage:MaxOpenSegments</c>. Opening a segment file then fails with EMFILE;
/// that must close idle segments and retry (or answer KAFKA_STORAGE_ERROR to that one request),
/// never fail the partition for the retry interval and never take the process down.
/// </summary>
public sealed class StorageFaultTests
{
    private const int Partitions = 400;
    private const int Headroom = 250;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The limit is lowered on the running broker (prlimit) to its current descriptors + 250, with
    /// 400 partitions that each want 3 descriptors (every batch indexed) and a bound of 4,000 open
    /// segments: the bound alone never evicts, so only the EMFILE path keeps the broker going.
    /// Before the fix a failed index open failed the partition (KAFKA_STORAGE_ERROR for the whole
    /// retry interval, 10 minutes here) and the runtime could die with "Out of memory.".
    /// </summary>
    [Fact]
    public async Task A_descriptor_limit_below_the_open_segment_bound_fails_no_partition_and_stops_nothing()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && File.Exists("/usr/bin/prlimit"), "Needs Linux and prlimit(1) to lower the broker's descriptor limit.");
        using var data = new TempDirectory("fdlimit");
        int port = BrokerProcess.FreePort();
        await using BrokerProcess broker = await BrokerProcess.StartAsync(data.Path, port,
            "--Storage:MaxOpenSegments=4000", "--Storage:Log:IndexIntervalBytes=0", "--Storage:FailedPartitionRetryInterval=00:10:00");
        string topic = "fdlimit-0";
        using RawConnection connection = await RawConnection.OpenAsync(port);
        await StorageScenario.CreateTopicsAsync(connection, "fdlimit", 1, Partitions, 1, Patience);

        int limit = Directory.GetFiles($"/proc/{broker.Pid}/fd").Length + Headroom;
        await SetDescriptorLimitAsync(broker.Pid, limit);

        var storageErrors = new List<int>();
        for (int round = 0; round < 4; round++)
        {
            ProduceResponse response = await StorageScenario.ProduceAsync(connection, topic, Partitions, Patience, acks: 1, valueBytes: 64,
                round: "#" + round.ToString(CultureInfo.InvariantCulture));
            int errors = 0;
            foreach (ProduceResponse.PartitionProduceResponse partition in response.Responses.Single().PartitionResponses)
            {
                Assert.True(partition.ErrorCode is 0 or (short)ErrorCode.KafkaStorageError,
                    $"{topic}-{partition.Index} round {round}: error {partition.ErrorCode} {partition.ErrorMessage}");
                errors += partition.ErrorCode == 0 ? 0 : 1;
            }

            storageErrors.Add(errors);
            Assert.False(broker.HasExited, $"the broker died at its descriptor limit in round {round}");
        }

        // The last rounds find every partition writable: nothing was failed for the retry interval.
        Assert.True(storageErrors[^1] == 0 && storageErrors[^2] == 0,
            $"partitions answering KAFKA_STORAGE_ERROR per round: {string.Join(", ", storageErrors)}");
        Assert.True(Directory.GetFiles($"/proc/{broker.Pid}/fd").Length <= limit);

        // Everything acknowledged reads back (with the limit raised again: one fetch of every partition
        // holds all their log files open at once), and the broker still accepts connections.
        await SetDescriptorLimitAsync(broker.Pid, 20_000);
        using RawConnection again = await RawConnection.OpenAsync(port);
        Dictionary<(int Partition, long Offset), byte[]> stored = await StorageScenario.ReadAllAsync(again, topic, Partitions, Patience);
        Assert.Equal(4 * Partitions - storageErrors.Sum(), stored.Count);
        Assert.False(broker.HasExited);
    }

    /// <summary>Sets the soft RLIMIT_NOFILE of <paramref name="pid"/> (the hard one stays, so it can be raised again).</summary>
    private static async Task SetDescriptorLimitAsync(int pid, int limit)
    {
        var start = new ProcessStartInfo("prlimit") { UseShellExecute = false, RedirectStandardError = true };
        foreach (string arg in (string[])["--pid", pid.ToString(CultureInfo.InvariantCulture), $"--nofile={limit}:"])
        {
            start.ArgumentList.Add(arg);
        }

        using Process prlimit = Process.Start(start)!;
        string error = await prlimit.StandardError.ReadToEndAsync();
        await prlimit.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(prlimit.ExitCode == 0, $"prlimit failed: {error}");
    }
}
