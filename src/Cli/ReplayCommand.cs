using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LogBroker.Client;
using LogBroker.Client.Admin;
using LogBroker.Client.Consumer;
using LogBroker.Client.Producer;
using Spectre.Console;

namespace LogBroker.Cli;

/// <summary>
/// replay: copies a range of a topic's records (by offset or by time) into another topic, a file or stdout,
/// exactly: keys, values, headers and timestamps. Into a topic or a file it is resumable: a checkpoint
/// records, after each acknowledged chunk, the next source offset and how far each target has grown, so
/// running the same command again (after an interruption or after completion) leaves every source record
/// in the target exactly once. Source partitions are copied one after the other, which is what makes the
/// resume exact: the records a target partition gained after the last checkpoint can only be the next ones
/// of the partition in progress. The target must have no other writers during a replay.
/// </summary>
internal static class ReplayCommand
{
    private const int Chunk = 2000;

    public static Command Build(CliContext context)
    {
        var command = new Command("replay", "Copy a range of old records (by offset or time) into a topic, a file or stdout; resumable and exactly once into a topic or file.");
        var topic = new Option<string>("--topic") { Description = "the source topic", Required = true };
        var partitions = new Option<string?>("--partitions") { Description = "only these source partitions, e.g. 0,2,4-6" };
        var fromOffset = new Option<long?>("--from-offset") { Description = "first offset to copy (in every partition)" };
        var fromTime = new Option<string?>("--from-time") { Description = "copy from the first record at or after this time (ISO-8601 or epoch ms)" };
        var toOffset = new Option<long?>("--to-offset") { Description = "stop before this offset (exclusive; default: the end when the replay first started)" };
        var toTime = new Option<string?>("--to-time") { Description = "stop before the first record at or after this time" };
        var into = new Option<string?>("--into") { Description = "produce into this (existing) topic" };
        var toFile = new Option<string?>("--to-file") { Description = "write JSON lines (base64 keys and values) to this file" };
        var toStdout = new Option<bool>("--to-stdout") { Description = "print JSON lines (not resumable)" };
        var partitioning = new Option<string>("--partitioning") { Description = "into a topic: keep (same partition number, the default) or key (murmur2 of the key; keyless records keep their partition)", DefaultValueFactory = _ => "keep" };
        var rate = new Option<double?>("--rate") { Description = "at most this many records per second" };
        var restart = new Option<bool>("--restart") { Description = "ignore the checkpoint and copy the whole range again (duplicates on purpose)" };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "checkpoint file (default .logbroker-replay/<id>.json in the current directory)" };
        foreach (Option o in (Option[])[topic, partitions, fromOffset, fromTime, toOffset, toTime, into, toFile, toStdout, partitioning, rate, restart, checkpoint])
        {
            command.Options.Add(o);
        }

        command.SetAction(async (r, ct) =>
        {
            var spec = new ReplaySpec(
                r.GetValue(topic)!,
                r.GetValue(partitions),
                r.GetValue(fromOffset),
                r.GetValue(fromTime),
                r.GetValue(toOffset),
                r.GetValue(toTime),
                r.GetValue(into),
                r.GetValue(toFile) is { } f ? Path.GetFullPath(f) : null,
                r.GetValue(toStdout),
                r.GetValue(partitioning) ?? "keep");
            spec.Validate();
            return await RunAsync(r, context, spec, r.GetValue(rate), r.GetValue(restart), r.GetValue(checkpoint), ct).ConfigureAwait(false);
        });
        return command;
    }

    internal sealed record ReplaySpec(string Topic, string? Partitions, long? FromOffset, string? FromTime, long? ToOffset, string? ToTime,
        string? Into, string? ToFile, bool ToStdout, string Partitioning)
    {
        public void Validate()
        {
            if ((FromOffset is null) == (FromTime is null))
            {
                throw new CliException(ExitCodes.Usage, "give exactly one of --from-offset and --from-time.");
            }

            if (ToOffset is not null && ToTime is not null)
            {
                throw new CliException(ExitCodes.Usage, "give at most one of --to-offset and --to-time.");
            }

            if ((Into is null ? 0 : 1) + (ToFile is null ? 0 : 1) + (ToStdout ? 1 : 0) != 1)
            {
                throw new CliException(ExitCodes.Usage, "give exactly one of --into, --to-file and --to-stdout.");
            }

            if (Partitioning is not ("keep" or "key"))
            {
                throw new CliException(ExitCodes.Usage, $"--partitioning: '{Partitioning}' is not keep or key.");
            }

            if (Into == Topic)
            {
                throw new CliException(ExitCodes.Usage, "--into must differ from --topic.");
            }
        }

        public string Id() => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(this, CheckpointJson.Default.ReplaySpec))))[..16];
    }

    /// <summary>The persisted progress of a replay.</summary>
    internal sealed class Checkpoint
    {
        public string Spec { get; set; } = "";

        public bool Completed { get; set; }

        /// <summary>Per source partition: [start, end) as resolved on the first run, and the next offset to copy.</summary>
        public Dictionary<int, PartitionProgress> Partitions { get; set; } = [];

        /// <summary>Per target partition: its end offset as far as this replay knows (into a topic).</summary>
        public Dictionary<int, long> TargetEnds { get; set; } = [];

        /// <summary>The file length covering every checkpointed record (to a file).</summary>
        public long FileLength { get; set; }

        public long Copied { get; set; }
    }

    internal sealed class PartitionProgress
    {
        public long Start { get; set; }

        public long End { get; set; }

        public long Next { get; set; }

        public long Copied { get; set; }

        public long SkippedOnResume { get; set; }
    }

    private static async Task<int> RunAsync(ParseResult r, CliContext context, ReplaySpec spec, double? rate, bool restart, string? checkpointPath, CancellationToken ct)
    {
        string specJson = JsonSerializer.Serialize(spec, CheckpointJson.Default.ReplaySpec);
        string path = checkpointPath ?? Path.Combine(".logbroker-replay", spec.Id() + ".json");
        bool resumable = !spec.ToStdout;
        await using AdminClient admin = TopicCommands.Admin(r, context);
        Checkpoint? saved = resumable && !restart ? await LoadAsync(path, ct).ConfigureAwait(false) : null;
        if (saved is not null && saved.Spec != specJson)
        {
            throw new CliException(ExitCodes.Usage, $"the checkpoint {path} belongs to another replay; use another --checkpoint or --restart.");
        }

        if (saved is { Completed: true })
        {
            await context.Error.WriteLineAsync($"replay already completed ({saved.Copied} records); nothing to do. Use --restart to copy again.").ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        List<TopicPartition> sources = await TopicCommands.PartitionsAsync(admin, spec.Topic, CliApp.ParsePartitions(spec.Partitions), ct).ConfigureAwait(false);
        int targetCount = 0;
        if (spec.Into is { } target)
        {
            targetCount = (await admin.DescribeTopicsAsync([target], ct).ConfigureAwait(false))[0].Partitions.Count;
            if (spec.Partitioning == "keep" && sources.Max(s => s.Partition) >= targetCount)
            {
                throw new CliException(ExitCodes.Usage, $"--partitioning keep needs {target} to have at least {sources.Max(s => s.Partition) + 1} partitions (it has {targetCount}); add partitions or use --partitioning key.");
            }
        }

        Checkpoint state = saved ?? await PlanAsync(admin, spec, specJson, sources, targetCount, ct).ConfigureAwait(false);
        if (resumable)
        {
            await SaveAsync(path, state, ct).ConfigureAwait(false);
        }

        long total = state.Partitions.Values.Sum(p => Math.Max(0, p.End - p.Start));
        long before = state.Copied;
        var clock = Stopwatch.StartNew();
        var progress = new ProgressReporter(context, total, state.Copied);

        await using var consumer = new KafkaConsumer(context.Secure(r, new ConsumerOptions
        {
            BootstrapServers = context.BootstrapServers(r),
            ClientId = "logbroker-replay",
            RequestTimeout = context.RequestTimeout(r),
            FetchMaxWait = TimeSpan.FromMilliseconds(100),
        }));
        await using KafkaProducer? producer = spec.Into is null ? null : new KafkaProducer(context.Secure(r, new ProducerOptions
        {
            BootstrapServers = context.BootstrapServers(r),
            ClientId = "logbroker-replay",
            RequestTimeout = context.RequestTimeout(r),
            AllowAutoCreateTopics = false,
        }));
        FileStream? file = null;
        if (spec.ToFile is { } filePath)
        {
            file = new FileStream(filePath, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read);
            file.SetLength(state.FileLength); // drops whatever an interrupted run wrote after its last checkpoint
            file.Position = state.FileLength;
        }

        try
        {
            foreach ((int sourcePartition, PartitionProgress p) in state.Partitions.OrderBy(kv => kv.Key))
            {
                if (p.Next >= p.End)
                {
                    continue;
                }

                // Records an interrupted run wrote to targets after its last checkpoint: skip that many per target.
                Dictionary<int, long> skip = spec.Into is { } t ? await SkipBudgetAsync(admin, t, state, ct).ConfigureAwait(false) : [];
                consumer.Assign([new TopicPartitionOffset(spec.Topic, sourcePartition, p.Next)]);
                var chunk = new List<ProducerRecord>(Chunk);
                var chunkTargets = new Dictionary<int, long>();
                long chunkLast = -1;
                var buffer = new ArrayBufferWriterStream();
                using var json = new Utf8JsonWriter(buffer.Stream);
                while (p.Next < p.End)
                {
                    ConsumeBatch batch = await consumer.NextBatchAsync(ct).ConfigureAwait(false)
                        ?? throw new CliException(ExitCodes.Failed, "the consumer stopped");
                    foreach (ConsumedRecord record in batch)
                    {
                        if (record.Offset >= p.End)
                        {
                            break;
                        }

                        chunkLast = record.Offset;
                        if (spec.Into is not null)
                        {
                            int targetPartition = spec.Partitioning == "key" && !record.KeyIsNull
                                ? KafkaProducer.PartitionForKey(record.Key, targetCount)
                                : sourcePartition % targetCount;
                            if (skip.GetValueOrDefault(targetPartition) > 0)
                            {
                                skip[targetPartition]--;
                                state.TargetEnds[targetPartition] = state.TargetEnds.GetValueOrDefault(targetPartition) + 1;
                                p.SkippedOnResume++;
                                continue;
                            }

                            ConsumeRecord copy = record.ToRecord();
                            chunk.Add(new ProducerRecord(copy.Key, copy.Value)
                            {
                                Headers = copy.Headers.Count > 0 ? copy.Headers : null,
                                Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(copy.Timestamp),
                                Partition = targetPartition,
                            });
                            chunkTargets[targetPartition] = chunkTargets.GetValueOrDefault(targetPartition) + 1;
                        }
                        else
                        {
                            RecordJson.WriteLossless(json, spec.Topic, record);
                            json.Flush();
                            buffer.WriteNewLine();
                            json.Reset();
                            chunk.Add(default);
                        }
                    }

                    // One chunk per fetched batch: write it, then checkpoint.
                    {
                        await FlushChunkAsync(spec, producer, file, context, buffer, chunk, ct).ConfigureAwait(false);
                        foreach ((int tp, long n) in chunkTargets)
                        {
                            state.TargetEnds[tp] = state.TargetEnds.GetValueOrDefault(tp) + n;
                        }

                        long advanced = Math.Max(chunkLast + 1, Math.Min(batch.LastOffset + 1, p.End));
                        p.Copied += chunk.Count;
                        state.Copied += chunk.Count;
                        p.Next = Math.Max(p.Next, advanced);
                        state.FileLength = file?.Position ?? 0;
                        if (resumable)
                        {
                            await SaveAsync(path, state, ct).ConfigureAwait(false);
                        }

                        progress.Report(state.Copied);
                        await ThrottleAsync(rate, state.Copied - before, clock, ct).ConfigureAwait(false);
                        chunk.Clear();
                        chunkTargets.Clear();
                        chunkLast = -1;
                    }
                }
            }

            state.Completed = true;
            if (resumable)
            {
                await SaveAsync(path, state, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            if (file is not null)
            {
                await file.DisposeAsync().ConfigureAwait(false);
            }

            progress.Stop();
        }

        PrintSummary(context, spec, state, state.Copied - before, clock.Elapsed);
        return ExitCodes.Ok;
    }

    private static async Task FlushChunkAsync(ReplaySpec spec, KafkaProducer? producer, FileStream? file, CliContext context, ArrayBufferWriterStream buffer, List<ProducerRecord> chunk, CancellationToken ct)
    {
        if (producer is not null)
        {
            if (chunk.Count > 0)
            {
                await producer.ProduceBatchAsync(spec.Into!, chunk, ct).ConfigureAwait(false);
            }
        }
        else if (file is not null)
        {
            await file.WriteAsync(buffer.Written, ct).ConfigureAwait(false);
            await file.FlushAsync(ct).ConfigureAwait(false);
            file.Flush(flushToDisk: true);
        }
        else
        {
            await context.Output.WriteAsync(Encoding.UTF8.GetString(buffer.Written.Span)).ConfigureAwait(false);
            await context.Output.FlushAsync(ct).ConfigureAwait(false);
        }

        buffer.Clear();
    }

    private static async Task<Checkpoint> PlanAsync(AdminClient admin, ReplaySpec spec, string specJson, List<TopicPartition> sources, int targetCount, CancellationToken ct)
    {
        Dictionary<TopicPartition, long> earliest = (await admin.ListOffsetsAsync(sources, OffsetSpec.Earliest, ct).ConfigureAwait(false)).ToDictionary(o => o.Partition, o => o.Offset);
        Dictionary<TopicPartition, long> latest = (await admin.ListOffsetsAsync(sources, OffsetSpec.Latest, ct).ConfigureAwait(false)).ToDictionary(o => o.Partition, o => o.Offset);
        Dictionary<TopicPartition, long>? fromTimes = spec.FromTime is { } ft
            ? (await admin.ListOffsetsAsync(sources, OffsetSpec.ForTime(CliApp.ParseTime(ft, "--from-time")), ct).ConfigureAwait(false)).ToDictionary(o => o.Partition, o => o.Offset)
            : null;
        Dictionary<TopicPartition, long>? toTimes = spec.ToTime is { } tt
            ? (await admin.ListOffsetsAsync(sources, OffsetSpec.ForTime(CliApp.ParseTime(tt, "--to-time")), ct).ConfigureAwait(false)).ToDictionary(o => o.Partition, o => o.Offset)
            : null;
        var state = new Checkpoint { Spec = specJson };
        foreach (TopicPartition tp in sources)
        {
            long start = fromTimes is null ? spec.FromOffset!.Value : (fromTimes[tp] >= 0 ? fromTimes[tp] : latest[tp]);
            if (start < earliest[tp] || start > latest[tp])
            {
                throw new CliException(ExitCodes.OutOfRange, $"--from-offset {start} is outside {tp}'s range [{earliest[tp]}, {latest[tp]}].");
            }

            long end = spec.ToOffset ?? (toTimes is null ? latest[tp] : (toTimes[tp] >= 0 ? toTimes[tp] : latest[tp]));
            if (end > latest[tp])
            {
                throw new CliException(ExitCodes.OutOfRange, $"--to-offset {end} is past {tp}'s end ({latest[tp]}).");
            }

            state.Partitions[tp.Partition] = new PartitionProgress { Start = start, End = Math.Max(start, end), Next = start };
        }

        if (spec.Into is { } target && targetCount > 0)
        {
            var targets = Enumerable.Range(0, targetCount).Select(p => new TopicPartition(target, p)).ToList();
            foreach (ListedOffset o in await admin.ListOffsetsAsync(targets, OffsetSpec.Latest, ct).ConfigureAwait(false))
            {
                state.TargetEnds[o.Partition.Partition] = o.Offset;
            }
        }

        return state;
    }

    private static async Task<Dictionary<int, long>> SkipBudgetAsync(AdminClient admin, string target, Checkpoint state, CancellationToken ct)
    {
        var budget = new Dictionary<int, long>();
        var targets = state.TargetEnds.Keys.Select(p => new TopicPartition(target, p)).ToList();
        foreach (ListedOffset o in await admin.ListOffsetsAsync(targets, OffsetSpec.Latest, ct).ConfigureAwait(false))
        {
            long extra = o.Offset - state.TargetEnds[o.Partition.Partition];
            if (extra < 0)
            {
                throw new CliException(ExitCodes.Failed, $"{o.Partition} has fewer records ({o.Offset}) than this replay wrote ({state.TargetEnds[o.Partition.Partition]}): records were deleted; use --restart.");
            }

            if (extra > 0)
            {
                budget[o.Partition.Partition] = extra;
            }
        }

        return budget;
    }

    private static async Task ThrottleAsync(double? rate, long copied, Stopwatch clock, CancellationToken ct)
    {
        if (rate is not { } perSecond || perSecond <= 0)
        {
            return;
        }

        TimeSpan due = TimeSpan.FromSeconds(copied / perSecond);
        if (due > clock.Elapsed)
        {
            await Task.Delay(due - clock.Elapsed, ct).ConfigureAwait(false);
        }
    }

    private static void PrintSummary(CliContext context, ReplaySpec spec, Checkpoint state, long copiedNow, TimeSpan elapsed)
    {
        var table = new Table().AddColumns("source partition", "from", "to (exclusive)", "copied", "already in target");
        foreach ((int partition, PartitionProgress p) in state.Partitions.OrderBy(kv => kv.Key))
        {
            table.AddRow(partition.ToString(CultureInfo.InvariantCulture), p.Start.ToString(CultureInfo.InvariantCulture), p.End.ToString(CultureInfo.InvariantCulture),
                p.Copied.ToString(CultureInfo.InvariantCulture), p.SkippedOnResume.ToString(CultureInfo.InvariantCulture));
        }

        string destination = spec.Into is { } t ? $"topic {t}" : spec.ToFile is { } f ? $"file {f}" : "stdout";
        if (!spec.ToStdout)
        {
            context.Console.Write(table);
            context.Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"replayed {copiedNow} records from {spec.Topic} into {destination} in {elapsed.TotalSeconds:F1} s ({(elapsed.TotalSeconds > 0 ? copiedNow / elapsed.TotalSeconds : 0):F0} records/s); {state.Copied} in total"));
        }
        else
        {
            context.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"replayed {copiedNow} records from {spec.Topic} to stdout"));
        }
    }

    private static async Task<Checkpoint?> LoadAsync(string path, CancellationToken ct)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            await using FileStream s = File.OpenRead(path);
            return await JsonSerializer.DeserializeAsync(s, CheckpointJson.Default.Checkpoint, ct).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            throw new CliException(ExitCodes.Failed, $"the checkpoint {path} is unreadable ({e.Message}); use --restart.");
        }
    }

    private static async Task SaveAsync(string path, Checkpoint state, CancellationToken ct)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        string temp = path + ".tmp";
        await using (FileStream s = new(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            await JsonSerializer.SerializeAsync(s, state, CheckpointJson.Default.Checkpoint, ct).ConfigureAwait(false);
            await s.FlushAsync(ct).ConfigureAwait(false);
            s.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Progress: a live bar with records/s and ETA on a terminal, a plain line every 2 s otherwise.</summary>
    private sealed class ProgressReporter
    {
        private readonly CliContext _context;
        private readonly long _total;
        private readonly long _startCopied;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private TimeSpan _lastLine;

        public ProgressReporter(CliContext context, long total, long copied)
        {
            _context = context;
            _total = Math.Max(total, 1);
            _startCopied = copied;
        }

        public void Report(long copied)
        {
            if (_clock.Elapsed - _lastLine < TimeSpan.FromSeconds(_context.Interactive ? 0.2 : 2))
            {
                return;
            }

            _lastLine = _clock.Elapsed;
            double rate = (copied - _startCopied) / Math.Max(_clock.Elapsed.TotalSeconds, 0.001);
            TimeSpan eta = rate > 0 ? TimeSpan.FromSeconds(Math.Max(0, _total - copied) / rate) : TimeSpan.Zero;
            string line = string.Create(CultureInfo.InvariantCulture,
                $"replay: {copied}/{_total} records ({100.0 * copied / _total:F1}%), {rate:F0} records/s, ETA {eta:hh\\:mm\\:ss}");
            if (_context.Interactive)
            {
                int width = 30;
                int filled = (int)(width * Math.Min(1.0, (double)copied / _total));
                _context.Error.Write("\r[" + new string('#', filled) + new string('-', width - filled) + "] " + line + "   ");
            }
            else
            {
                _context.Error.WriteLine(line);
            }
        }

        public void Stop()
        {
            if (_context.Interactive)
            {
                _context.Error.WriteLine();
            }
        }
    }

    /// <summary>A growable in-memory stream for one chunk of JSON lines.</summary>
    private sealed class ArrayBufferWriterStream
    {
        public MemoryStream Stream { get; } = new();

        public ReadOnlyMemory<byte> Written => Stream.GetBuffer().AsMemory(0, (int)Stream.Length);

        public void WriteNewLine() => Stream.WriteByte((byte)'\n');

        public void Clear() => Stream.SetLength(0);
    }
}

/// <summary>Source-generated JSON for replay checkpoints.</summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ReplayCommand.Checkpoint))]
[System.Text.Json.Serialization.JsonSerializable(typeof(ReplayCommand.ReplaySpec))]
internal sealed partial class CheckpointJson : System.Text.Json.Serialization.JsonSerializerContext;
