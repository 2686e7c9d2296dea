using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LogBroker.Client;
using LogBroker.Client.Admin;
using LogBroker.Client.Consumer;
using LogBroker.Client.Producer;
using LogBroker.Protocol.Records;

namespace LogBroker.Cli;

/// <summary>produce and consume.</summary>
internal static class ProduceConsumeCommands
{
    public static Acks ParseAcks(string? text) => text?.ToLowerInvariant() switch
    {
        "0" => Acks.None,
        "1" => Acks.Leader,
        "all" or "-1" or null => Acks.All,
        _ => throw new CliException(ExitCodes.Usage, $"--acks: '{text}' is not 0, 1 or all."),
    };

    public static CompressionType ParseCompression(string? text) => text?.ToLowerInvariant() switch
    {
        "none" or null => CompressionType.None,
        "gzip" => CompressionType.Gzip,
        "snappy" => CompressionType.Snappy,
        "lz4" => CompressionType.Lz4,
        "zstd" => CompressionType.Zstd,
        _ => throw new CliException(ExitCodes.Usage, $"--compression: '{text}' is not none, gzip, snappy, lz4 or zstd."),
    };

    public static Command BuildProduce(CliContext context)
    {
        var command = new Command("produce", "Produce lines from stdin or a file, one record per line.");
        var topic = new Argument<string>("topic");
        var file = new Option<string?>("--file", "-f") { Description = "read lines from this file instead of stdin" };
        var separator = new Option<string?>("--key-separator", "-k") { Description = "split each line at the first occurrence into key and value" };
        var headers = new Option<string[]>("--header", "-H") { Description = "a header for every record, key=value (repeatable)" };
        var acks = new Option<string>("--acks") { Description = "0, 1 or all (default all)", DefaultValueFactory = _ => "all" };
        var compression = new Option<string>("--compression", "-z") { Description = "none, gzip, snappy, lz4 or zstd (default none)", DefaultValueFactory = _ => "none" };
        var partition = new Option<int?>("--partition", "-p") { Description = "write every record to this partition" };
        command.Arguments.Add(topic);
        command.Options.Add(file);
        command.Options.Add(separator);
        command.Options.Add(headers);
        command.Options.Add(acks);
        command.Options.Add(compression);
        command.Options.Add(partition);
        command.SetAction(async (r, ct) =>
        {
            string name = r.GetValue(topic)!;
            Acks ack = ParseAcks(r.GetValue(acks));
            var recordHeaders = CliApp.ParsePairs(r.GetValue(headers), "--header")
                .Select(kv => new RecordHeader(kv.Key, Encoding.UTF8.GetBytes(kv.Value))).ToList();
            string? sep = r.GetValue(separator);
            int? fixedPartition = r.GetValue(partition);
            await using (AdminClient admin = TopicCommands.Admin(r, context))
            {
                _ = await admin.DescribeTopicsAsync([name], ct).ConfigureAwait(false); // a clear error for an unknown topic
            }

            await using var producer = new KafkaProducer(context.Secure(r, new ProducerOptions
            {
                BootstrapServers = context.BootstrapServers(r),
                ClientId = "logbroker-cli",
                Acks = ack,
                EnableIdempotence = ack == Acks.All,
                CompressionType = ParseCompression(r.GetValue(compression)),
                RequestTimeout = context.RequestTimeout(r),
                DeliveryTimeout = context.RequestTimeout(r) * 3,
                AllowAutoCreateTopics = false,
            }));
            TextReader reader = r.GetValue(file) is { } path ? new StreamReader(path, Encoding.UTF8) : context.Input;
            long count = 0;
            try
            {
                var chunk = new List<ProducerRecord>(1000);
                while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
                {
                    byte[]? key = null;
                    string value = line;
                    if (sep is { Length: > 0 } && line.IndexOf(sep, StringComparison.Ordinal) is int at and >= 0)
                    {
                        key = Encoding.UTF8.GetBytes(line[..at]);
                        value = line[(at + sep.Length)..];
                    }

                    chunk.Add(new ProducerRecord(key, Encoding.UTF8.GetBytes(value)) { Headers = recordHeaders.Count > 0 ? recordHeaders : null, Partition = fixedPartition });
                    if (chunk.Count == chunk.Capacity)
                    {
                        await producer.ProduceBatchAsync(name, chunk, ct).ConfigureAwait(false);
                        count += chunk.Count;
                        chunk.Clear();
                    }
                }

                await producer.ProduceBatchAsync(name, chunk, ct).ConfigureAwait(false);
                count += chunk.Count;
            }
            finally
            {
                if (!ReferenceEquals(reader, context.Input))
                {
                    reader.Dispose();
                }
            }

            await context.Error.WriteLineAsync($"produced {count} records to {name}").ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command BuildConsume(CliContext context)
    {
        var command = new Command("consume", "Print records of a topic: from the beginning (default), an offset or a time; optionally in a group.");
        var topic = new Argument<string>("topic");
        var fromBeginning = new Option<bool>("--from-beginning") { Description = "start at the log start (the default without a group)" };
        var offset = new Option<long?>("--offset", "-o") { Description = "start at this offset in every partition" };
        var time = new Option<string?>("--time", "-t") { Description = "start at the first record at or after this time (ISO-8601 or epoch ms)" };
        var group = new Option<string?>("--group", "-g") { Description = "consume as a member of this group (starts at its committed offsets) and commit" };
        var max = new Option<long?>("--max", "-n") { Description = "stop after this many records" };
        var format = new Option<string>("--format") { Description = "text or json (JSON lines)", DefaultValueFactory = _ => "text" };
        var partitions = new Option<string?>("--partitions") { Description = "only these partitions, e.g. 0,2,4-6" };
        var follow = new Option<bool>("--follow", "-F") { Description = "keep waiting for new records instead of stopping at the end" };
        command.Arguments.Add(topic);
        command.Options.Add(fromBeginning);
        command.Options.Add(offset);
        command.Options.Add(time);
        command.Options.Add(group);
        command.Options.Add(max);
        command.Options.Add(format);
        command.Options.Add(partitions);
        command.Options.Add(follow);
        command.SetAction(async (r, ct) =>
        {
            string name = r.GetValue(topic)!;
            bool json = r.GetValue(format) switch
            {
                "json" => true,
                "text" => false,
                var f => throw new CliException(ExitCodes.Usage, $"--format: '{f}' is not text or json."),
            };
            string? groupId = r.GetValue(group);
            if (new[] { r.GetValue(fromBeginning), r.GetValue(offset) is not null, r.GetValue(time) is not null }.Count(x => x) > 1)
            {
                throw new CliException(ExitCodes.Usage, "give at most one of --from-beginning, --offset and --time.");
            }

            List<TopicPartition> tps;
            Dictionary<TopicPartition, long> ends;
            long startOffset = Offsets.Beginning;
            await using (AdminClient admin = TopicCommands.Admin(r, context))
            {
                tps = await TopicCommands.PartitionsAsync(admin, name, CliApp.ParsePartitions(r.GetValue(partitions)), ct).ConfigureAwait(false);
                ends = (await admin.ListOffsetsAsync(tps, OffsetSpec.Latest, ct).ConfigureAwait(false)).ToDictionary(o => o.Partition, o => o.Offset);
            }

            if (r.GetValue(offset) is { } o)
            {
                startOffset = o >= 0 ? o : throw new CliException(ExitCodes.OutOfRange, "--offset must be 0 or more.");
            }

            await using var consumer = new KafkaConsumer(context.Secure(r, new ConsumerOptions
            {
                BootstrapServers = context.BootstrapServers(r),
                ClientId = "logbroker-cli",
                GroupId = groupId,
                AutoOffsetReset = AutoOffsetReset.Earliest,
                RequestTimeout = context.RequestTimeout(r),
                FetchMaxWait = TimeSpan.FromMilliseconds(200),
                HeartbeatInterval = TimeSpan.FromSeconds(1),
            }));
            bool explicitStart = r.GetValue(fromBeginning) || r.GetValue(offset) is not null || r.GetValue(time) is not null;
            if (groupId is null || r.GetValue(partitions) is not null || explicitStart)
            {
                consumer.Assign(tps.Select(tp => new TopicPartitionOffset(tp.Topic, tp.Partition, groupId is not null && !explicitStart ? Offsets.Stored : startOffset)));
                if (r.GetValue(time) is { } t)
                {
                    await consumer.SeekToTimestampAsync(tps, CliApp.ParseTime(t, "--time"), ct).ConfigureAwait(false);
                }
            }
            else
            {
                consumer.Subscribe([name]);
            }

            long limit = r.GetValue(max) ?? long.MaxValue;
            long printed = 0;
            bool followMode = r.GetValue(follow);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var writer = context.Output;
            bool Done()
            {
                if (followMode)
                {
                    return false;
                }

                IReadOnlyList<TopicPartition> assigned = consumer.Assignment;
                if (assigned.Count == 0)
                {
                    return tps.All(tp => ends[tp] == 0);
                }

                foreach (TopicPartition tp in assigned)
                {
                    long? position = consumer.Position(tp);
                    if (position is null || position < ends.GetValueOrDefault(tp))
                    {
                        return false;
                    }
                }

                return true;
            }

            while (printed < limit && !Done())
            {
                using var tick = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                tick.CancelAfter(TimeSpan.FromMilliseconds(500));
                ConsumeBatch? batch;
                try
                {
                    batch = await consumer.NextBatchAsync(tick.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    continue;
                }

                if (batch is null)
                {
                    break;
                }

                foreach (ConsumeRecord record in batch.ToList())
                {
                    if (printed >= limit)
                    {
                        break;
                    }

                    await writer.WriteLineAsync(json ? RecordJson.Readable(record) : RecordJson.Text(record)).ConfigureAwait(false);
                    printed++;
                }
            }

            await writer.FlushAsync(ct).ConfigureAwait(false);
            if (groupId is not null)
            {
                await consumer.CommitAsync(ct).ConfigureAwait(false);
            }

            await context.Error.WriteLineAsync($"consumed {printed} records").ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary>Record formats: text, readable JSON lines, and lossless JSON lines (replay files).</summary>
internal static class RecordJson
{
    public static string Text(ConsumeRecord r)
    {
        string headers = string.Join(",", r.Headers.Select(h => h.Key + "=" + (h.Value is { } v ? Show(v.Span) : "")));
        return string.Create(CultureInfo.InvariantCulture,
            $"{r.Partition.Partition}\t{r.Offset}\t{DateTimeOffset.FromUnixTimeMilliseconds(r.Timestamp):yyyy-MM-ddTHH:mm:ss.fffZ}\t{(r.Key is null ? "" : Show(r.Key))}\t{headers}\t{(r.Value is null ? "" : Show(r.Value))}");
    }

    private static string Show(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>
    /// Relaxed escaping for output a person reads: quotes as <c>\"</c>, non-ASCII text and <c>&lt;&gt;&amp;'+</c>
    /// as themselves (the default encoder writes <c>\u0022</c>, <c>\u00E9</c>, …); control characters are
    /// still escaped. Not for embedding in HTML.
    /// </summary>
    private static readonly JsonWriterOptions ReadableOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>JSON with UTF-8 strings where the bytes are valid UTF-8, else base64 in a "…Base64" field.</summary>
    public static string Readable(ConsumeRecord r)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, ReadableOptions))
        {
            json.WriteStartObject();
            json.WriteNumber("partition", r.Partition.Partition);
            json.WriteNumber("offset", r.Offset);
            json.WriteNumber("timestamp", r.Timestamp);
            json.WriteString("time", DateTimeOffset.FromUnixTimeMilliseconds(r.Timestamp).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
            WriteBytes(json, "key", r.Key);
            json.WriteStartObject("headers");
            foreach (RecordHeader h in r.Headers)
            {
                if (h.Value is { } v && Utf8(v.Span) is { } s)
                {
                    json.WriteString(h.Key, s);
                }
                else if (h.Value is { } b)
                {
                    json.WriteString(h.Key, Convert.ToBase64String(b.Span));
                }
                else
                {
                    json.WriteNull(h.Key);
                }
            }

            json.WriteEndObject();
            WriteBytes(json, "value", r.Value);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteBytes(Utf8JsonWriter json, string name, byte[]? bytes)
    {
        if (bytes is null)
        {
            json.WriteNull(name);
        }
        else if (Utf8(bytes) is { } s)
        {
            json.WriteString(name, s);
        }
        else
        {
            json.WriteString(name + "Base64", Convert.ToBase64String(bytes));
        }
    }

    private static string? Utf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>Lossless JSON: key, value and header values in base64, with partition, offset and timestamp.</summary>
    public static void WriteLossless(Utf8JsonWriter json, string topic, in ConsumedRecord r)
    {
        json.WriteStartObject();
        json.WriteString("topic", topic);
        json.WriteNumber("partition", r.Partition.Partition);
        json.WriteNumber("offset", r.Offset);
        json.WriteNumber("timestamp", r.Timestamp);
        if (r.KeyIsNull)
        {
            json.WriteNull("key");
        }
        else
        {
            json.WriteBase64String("key", r.Key);
        }

        json.WriteStartArray("headers");
        foreach (RecordHeader h in r.HeaderCount == 0 ? [] : r.ReadHeaders())
        {
            json.WriteStartObject();
            json.WriteString("key", h.Key);
            if (h.Value is { } v)
            {
                json.WriteBase64String("value", v.Span);
            }
            else
            {
                json.WriteNull("value");
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        if (r.ValueIsNull)
        {
            json.WriteNull("value");
        }
        else
        {
            json.WriteBase64String("value", r.Value);
        }

        json.WriteEndObject();
    }
}
