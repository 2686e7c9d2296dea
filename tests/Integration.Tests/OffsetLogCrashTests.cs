using System.Diagnostics;
using System.Globalization;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;
using ErrorCode = LogBroker.Protocol.ErrorCode;

namespace LogBroker.Integration.Tests;

/// <summary>
/// kill -9 of a real broker process at random moments while several groups commit offsets fast
/// enough that the committed-offset log compacts over and over (<c>Broker:OffsetsCompactionBytes</c>
/// at its minimum), then a restart on the same data directory and a check: every group/partition
/// reads back (OffsetFetch) the last commit acknowledged before the kill or the one in flight at the
/// kill, with its own metadata, never an older or a never-committed value; the restart is bounded;
/// compaction did drop old segments and the log stays small.
/// </summary>
/// <remarks>
/// What this can catch: a compaction that loses or reverts live entries (a snapshot missing entries,
/// old segments dropped before the snapshot is written, a replay that applies records in the wrong
/// order, a torn tail that fails the start). What it cannot catch: fsync ordering (kill -9 keeps the
/// page cache, so an unflushed snapshot still reads back). A few kills here; <c>tools/crash-soak.sh</c>
/// runs more (<c>LOGBROKER_CRASH_KILLS</c>, default 3; seed in <c>LOGBROKER_CRASH_SEED</c>).
/// </remarks>
public sealed class OffsetLogCrashTests
{
    private const int CompactionBytes = 64 * 1024; // the setting's minimum: segments of 8 KiB
    private const int Groups = 4; // committing all the time; one more, Groups, commits once and then relies on compaction's snapshot
    private const int Partitions = 8;
    private const string Topic = "crash-offsets";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static int Kills => int.TryParse(Environment.GetEnvironmentVariable("LOGBROKER_CRASH_KILLS"), CultureInfo.InvariantCulture, out int n) && n > 0 ? n : 3;

    [Fact]
    public async Task Commits_killed_at_random_points_during_compaction_read_back_the_last_acknowledged_or_the_in_flight_offset()
    {
        Random random = Seeded();
        using var data = new TempDirectory("crash-offsets");
        int port = BrokerProcess.FreePort();
        string[] settings = [$"--Broker:OffsetsCompactionBytes={CompactionBytes}"];
        long[] sequence = new long[Groups + 1]; // per group, never reused: every commit's value is new
        long[,] acknowledged = new long[Groups + 1, Partitions];
        long[,] inFlight = new long[Groups + 1, Partitions];
        for (int g = 0; g <= Groups; g++)
        {
            for (int p = 0; p < Partitions; p++)
            {
                acknowledged[g, p] = inFlight[g, p] = -1;
            }
        }

        long highestLogStart = 0;
        BrokerProcess broker = await BrokerProcess.StartAsync(data.Path, port, settings);
        try
        {
            using (RawConnection setup = await RawConnection.OpenAsync(port))
            {
                CreateTopicsResponse created = await setup.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
                {
                    Topics = [new CreateTopicsRequest.CreatableTopic { Name = Topic, NumPartitions = Partitions, ReplicationFactor = 1 }],
                    timeoutMs = 30_000,
                }, Patience);
                Assert.Equal((short)ErrorCode.None, created.Topics[0].ErrorCode);
                await CommitAsync(setup, Groups, sequence, acknowledged, inFlight);
            }

            for (int kill = 0; kill < Kills; kill++)
            {
                long commitsBefore = sequence.Sum() - sequence[Groups];
                Task[] committing = [.. Enumerable.Range(0, Groups).Select(g => Task.Run(() => CommitLoopAsync(port, g, sequence, acknowledged, inFlight)))];
                await Task.Delay(random.Next(300, 2500), TestContext.Current.CancellationToken);
                Assert.False(broker.HasExited, "the broker died by itself");
                await broker.KillAsync();
                foreach (Task task in committing)
                {
                    Exception cut = await Assert.ThrowsAnyAsync<Exception>(() => task);
                    Assert.False(cut is Xunit.Sdk.XunitException, cut.Message);
                }

                await broker.DisposeAsync();
                var restart = Stopwatch.StartNew();
                broker = await BrokerProcess.StartAsync(data.Path, port, settings);
                using RawConnection check = await RawConnection.OpenAsync(port);
                for (int g = 0; g <= Groups; g++)
                {
                    await CheckGroupAsync(check, g, acknowledged, inFlight);
                }

                restart.Stop();
                Assert.True(restart.Elapsed < Patience, $"the restart and first fetches took {restart.Elapsed}");
                (long logStart, long logBytes) = OffsetLogFiles(data.Path);
                highestLogStart = Math.Max(highestLogStart, logStart);
                Assert.True(logBytes < 16 * CompactionBytes, $"the offset log holds {logBytes} bytes: compaction does not keep it bounded");
                TestContext.Current.TestOutputHelper?.WriteLine(
                    $"kill {kill}: {sequence.Sum() - sequence[Groups] - commitsBefore} commits sent, restart+check {restart.ElapsedMilliseconds} ms, offset log starts at {logStart}, {logBytes} bytes");

                for (int g = 0; g <= Groups; g++)
                {
                    for (int p = 0; p < Partitions; p++)
                    {
                        inFlight[g, p] = -1; // what was read back is now the floor for the next round
                    }
                }
            }
        }
        finally
        {
            await broker.DisposeAsync();
        }

        Assert.True(highestLogStart > 0, "no compaction ever dropped a segment: the test did not exercise compaction");
    }

    /// <summary>One group commits every partition at once, again and again, until the connection breaks.</summary>
    private static async Task CommitLoopAsync(int port, int g, long[] sequence, long[,] acknowledged, long[,] inFlight)
    {
        using RawConnection connection = await RawConnection.OpenAsync(port);
        while (true)
        {
            await CommitAsync(connection, g, sequence, acknowledged, inFlight);
        }
    }

    /// <summary>Commits a new value to every partition for group <paramref name="g"/>; records it as in flight, then as acknowledged.</summary>
    private static async Task CommitAsync(RawConnection connection, int g, long[] sequence, long[,] acknowledged, long[,] inFlight)
    {
        long seq = ++sequence[g];
        for (int p = 0; p < Partitions; p++)
        {
            inFlight[g, p] = Value(seq, p);
        }

        OffsetCommitResponse response = await connection.RequestAsync<OffsetCommitResponse>(ApiKey.OffsetCommit, 8, new OffsetCommitRequest
        {
            GroupId = GroupName(g),
            MemberId = "",
            GenerationIdOrMemberEpoch = -1,
            Topics = [new OffsetCommitRequest.OffsetCommitRequestTopic
            {
                Name = Topic,
                Partitions = [.. Enumerable.Range(0, Partitions).Select(p => new OffsetCommitRequest.OffsetCommitRequestPartition
                {
                    PartitionIndex = p,
                    CommittedOffset = Value(seq, p),
                    CommittedMetadata = Metadata(Value(seq, p)),
                })],
            }],
        }, Patience);
        Assert.All(response.Topics.Single().Partitions, r => Assert.Equal((short)ErrorCode.None, r.ErrorCode));
        for (int p = 0; p < Partitions; p++)
        {
            acknowledged[g, p] = Value(seq, p);
        }
    }

    private static async Task CheckGroupAsync(RawConnection connection, int g, long[,] acknowledged, long[,] inFlight)
    {
        OffsetFetchResponse fetched = await connection.RequestAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, 1, new OffsetFetchRequest
        {
            GroupId = GroupName(g),
            Topics = [new OffsetFetchRequest.OffsetFetchRequestTopic { Name = Topic, PartitionIndexes = [.. Enumerable.Range(0, Partitions)] }],
        }, Patience);
        foreach (OffsetFetchResponse.OffsetFetchResponseTopic topic in fetched.Topics)
        {
            foreach (OffsetFetchResponse.OffsetFetchResponsePartition partition in topic.Partitions)
            {
                Assert.Equal((short)ErrorCode.None, partition.ErrorCode);
                int p = partition.PartitionIndex;
                long read = partition.CommittedOffset;
                Assert.True(read == acknowledged[g, p] || read == inFlight[g, p],
                    $"{GroupName(g)}/{p} reads back {read}; acknowledged {acknowledged[g, p]}, in flight {inFlight[g, p]}");
                if (read >= 0)
                {
                    Assert.Equal(Metadata(read), partition.Metadata);
                }

                acknowledged[g, p] = read;
            }
        }

        Assert.Equal(Partitions, fetched.Topics.Single().Partitions.Count);
    }

    /// <summary>The first segment's base offset and the bytes of all segments of <c>__consumer_offsets-0</c>.</summary>
    private static (long LogStart, long Bytes) OffsetLogFiles(string dataDirectory)
    {
        long start = long.MaxValue, bytes = 0;
        foreach (string file in Directory.EnumerateFiles(Path.Combine(dataDirectory, "__consumer_offsets-0"), "*.log"))
        {
            start = Math.Min(start, long.Parse(Path.GetFileNameWithoutExtension(file), CultureInfo.InvariantCulture));
            bytes += new FileInfo(file).Length;
        }

        return (start == long.MaxValue ? 0 : start, bytes);
    }

    private static string GroupName(int g) => $"crash-group-{g}";

    private static long Value(long seq, int p) => (seq * Partitions) + p;

    /// <summary>About 200 bytes that name the offset, so records are large (compaction comes often) and a mix-up shows.</summary>
    private static string Metadata(long value) => $"offset {value} ".PadRight(200, '.');

    private static Random Seeded()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("LOGBROKER_CRASH_SEED"), CultureInfo.InvariantCulture, out int s) ? s : Environment.TickCount;
        TestContext.Current.TestOutputHelper?.WriteLine($"LOGBROKER_CRASH_SEED={seed} LOGBROKER_CRASH_KILLS={Kills}");
        return new Random(seed);
    }
}
