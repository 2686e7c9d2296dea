using System.Buffers;
using System.Net;
using LogBroker.Broker.Groups;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Telemetry;
using LogBroker.Protocol;
using LogBroker.Protocol.Compression;
using LogBroker.Protocol.Primitives;
using LogBroker.Protocol.Records;
using LogBroker.Protocol.Security;
using LogBroker.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace LogBroker.Broker.Admin;

internal sealed record BrokerInfo(string Version, int NodeId, string ClusterId, DateTimeOffset StartedAt, double UptimeSeconds,
    string KafkaListener, string Advertised, string AdminListener, int Topics, int Partitions, int Groups, string DataDirectory,
    long DiskFreeBytes, long DiskTotalBytes, bool AllowWrites, bool MetricsEnabled, long RecordsIn, long RecordsOut, long BytesIn, long BytesOut);

internal sealed record TopicRow(string Name, bool Internal, int Partitions, int LoadedPartitions, long SizeBytes, long Records, long? RetentionMs, long? RetentionBytes);

internal sealed record TopicList(int Total, int Offset, IReadOnlyList<TopicRow> Topics);

internal sealed record PartitionRow(int Partition, bool Loaded, long? StartOffset, long? EndOffset, long? Records, long? SizeBytes, int? Segments);

internal sealed record ConfigRow(string Name, string Value, bool Override);

internal sealed record TopicDetail(string Name, Guid Id, bool Internal, IReadOnlyList<PartitionRow> Partitions, IReadOnlyList<ConfigRow> Configs, IReadOnlyList<string> Groups);

internal sealed record HeaderView(string Key, string? Value);

internal sealed record MessageView(long Offset, long Timestamp, string TimestampType, string? Key, string? Value, IReadOnlyList<HeaderView> Headers, int SizeBytes);

internal sealed record MessagePage(string Topic, int Partition, long StartOffset, long EndOffset, long FromOffset, long NextOffset, long PrevOffset,
    int BytesRead, bool Truncated, IReadOnlyList<MessageView> Messages);

internal sealed record GroupRow(string Id, string State, string Type, string ProtocolType, string Protocol, int Members, int Partitions, long Lag, long? MaxTimeLagMs);

internal sealed record GroupDetail(string Id, string State, string Type, string ProtocolType, string Protocol, IReadOnlyList<GroupMemberInfo> Members,
    IReadOnlyList<PartitionLag> Offsets, long TotalLag, bool AllowWrites);

internal sealed record ResetRequest(string? Topic, string To, long? Offset, long? Timestamp, bool DryRun = true);

internal sealed record ResetRow(string Topic, int Partition, long? Current, long Target, long LagAfter);

internal sealed record ResetResult(string Group, bool DryRun, bool Applied, string? Error, IReadOnlyList<ResetRow> Plan);

internal sealed record ApiError(string Error);

/// <summary>
/// The JSON API under <c>/api</c> that the console uses. Every answer is bounded: lists by
/// <see cref="ConsoleOptions.MaxListItems"/>, message pages by <see cref="ConsoleOptions.MaxBrowseRecords"/>
/// records and <see cref="ConsoleOptions.MaxBrowseBytes"/> bytes read through the partition's own read path
/// (one batch at a time, never a whole segment). Writes (offset reset, delete group) need
/// <see cref="ConsoleOptions.AllowWrites"/>, an empty group, a JSON body (so a cross-site form cannot send them) and,
/// with ACLs on, the authenticated principal's Read on the group and its topics (reset) or Delete on the group.
/// </summary>
internal static class AdminApi
{
    public static void Map(IEndpointRouteBuilder app, IServiceProvider broker)
    {
        ConsoleOptions console = Get<Microsoft.Extensions.Options.IOptions<ConsoleOptions>>(broker).Value;
        BrokerState state = Get<BrokerState>(broker);
        TopicRegistry topics = state.Topics;
        BrokerMetrics metrics = Get<BrokerMetrics>(broker);
        LagHistory history = Get<LagHistory>(broker);
        OffsetManager groups = Get<OffsetManager>(broker);
        ClusterInfo cluster = Get<ClusterInfo>(broker);
        BrokerOptions options = Get<BrokerOptions>(broker);
        BrokerListener listener = Get<BrokerListener>(broker);
        LogManager logs = Get<LogManager>(broker);
        AdminServer admin = Get<AdminServer>(broker);
        AdminAuthentication access = Get<AdminAuthentication>(broker);

        RouteGroupBuilder api = app.MapGroup("/api");
        api.MapGet("/broker", () =>
        {
            int partitions = 0;
            foreach (Topic topic in topics.Topics)
            {
                partitions += topic.Partitions.Length;
            }

            (long free, long total) = Disk(logs.DataDirectory);
            return new BrokerInfo(BrokerMetrics.Version, cluster.NodeId, topics.ClusterId, BrokerMetrics.StartedAt,
                Math.Round((DateTimeOffset.UtcNow - BrokerMetrics.StartedAt).TotalSeconds, 1),
                listener.Bound.IsCompletedSuccessfully ? listener.Bound.Result.ToString() : options.Listener, $"{cluster.Host}:{cluster.Port}",
                admin.Bound.IsCompletedSuccessfully ? admin.Bound.Result.ToString() : "", topics.Topics.Count, partitions,
                state.ListGroups().Count, Path.GetFullPath(logs.DataDirectory), free, total, console.AllowWrites, metrics.Enabled,
                metrics.TotalRecordsIn, metrics.TotalRecordsOut, metrics.TotalBytesIn, metrics.TotalBytesOut);
        });

        api.MapGet("/rates", () => history.Rates);

        api.MapGet("/topics", (int? offset, int? limit, string? search) =>
        {
            var all = new List<Topic>();
            foreach (Topic topic in topics.Topics)
            {
                if (string.IsNullOrEmpty(search) || topic.Name.Contains(search, StringComparison.OrdinalIgnoreCase))
                {
                    all.Add(topic);
                }
            }

            all.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
            int from = Math.Clamp(offset ?? 0, 0, all.Count);
            int take = Math.Clamp(limit ?? console.MaxListItems, 0, console.MaxListItems);
            var rows = new List<TopicRow>(Math.Min(take, all.Count - from));
            for (int i = from; i < all.Count && rows.Count < take; i++)
            {
                rows.Add(Row(all[i]));
            }

            return new TopicList(all.Count, from, rows);
        });

        api.MapGet("/topics/{name}", (string name) =>
        {
            if (topics.Get(name) is not { } topic)
            {
                return NotFound($"topic {name} not found");
            }

            var partitions = new List<PartitionRow>(topic.Partitions.Length);
            for (int p = 0; p < topic.Partitions.Length && p < console.MaxListItems; p++)
            {
                PartitionLog log = topic.Partitions[p];
                partitions.Add(new PartitionRow(p, true, log.LogStartOffset, log.LogEndOffset, log.LogEndOffset - log.LogStartOffset, log.Size, log.SegmentCount));
            }

            var configs = new List<ConfigRow>();
            foreach (string config in TopicConfigs.Names)
            {
                configs.Add(new ConfigRow(config, TopicConfigs.Value(topic, config), topic.Overrides.ContainsKey(config)));
            }

            return Results.Ok(new TopicDetail(topic.Name, topic.Id, TopicRegistry.IsInternal(topic.Name), partitions, configs, state.GroupsReading(topic.Name)));
        });

        api.MapGet("/topics/{name}/partitions/{partition:int}/messages", (string name, int partition, long? offset, long? timestamp, int? limit, int? maxBytes) =>
        {
            if (topics.Partition(name, partition) is not { } log)
            {
                return NotFound($"partition {name}-{partition} not found");
            }

            int records = Math.Clamp(limit ?? 50, 1, console.MaxBrowseRecords);
            int bytes = Math.Clamp(maxBytes ?? console.MaxBrowseBytes, 1024, console.MaxBrowseBytes);
            long start = log.LogStartOffset;
            long end = log.LogEndOffset;
            long from = offset ?? (timestamp is { } ts ? log.OffsetForTimestamp(ts)?.Offset ?? end : Math.Max(start, end - records));
            from = Math.Clamp(from, start, end);
            return Results.Ok(Browse(log, name, partition, from, records, bytes));
        });

        api.MapGet("/groups", () =>
        {
            var rows = new List<GroupRow>();
            foreach (GroupSummary group in state.ListGroups(console.MaxListItems))
            {
                List<PartitionLag> lag = state.Lag(group.Id);
                long total = 0;
                long? maxTime = null;
                foreach (PartitionLag l in lag)
                {
                    total += l.Lag;
                    maxTime = l.TimeLagMs is { } ms && (maxTime is null || ms > maxTime) ? ms : maxTime;
                }

                rows.Add(new GroupRow(group.Id, group.State, group.Type, group.ProtocolType, group.Protocol, group.Members, lag.Count, total, maxTime));
            }

            return rows;
        });

        api.MapGet("/groups/{id}", (string id) =>
        {
            if (FindGroup(state, id) is not { } group)
            {
                return NotFound($"group {id} not found");
            }

            List<PartitionLag> lag = state.Lag(id);
            long total = 0;
            foreach (PartitionLag l in lag)
            {
                total += l.Lag;
            }

            return Results.Ok(new GroupDetail(group.Id, group.State, group.Type, group.ProtocolType, group.Protocol, state.Members(id), lag, total, console.AllowWrites));
        });

        api.MapGet("/groups/{id}/lag-history", (string id) => history.For(id));

        api.MapPost("/groups/{id}/reset-offsets", (string id, ResetRequest request, HttpContext http) =>
        {
            if (!IsJson(http))
            {
                return Results.Json(new ApiError("a JSON body is required"), statusCode: StatusCodes.Status415UnsupportedMediaType);
            }

            if (FindGroup(state, id) is not { } group)
            {
                return NotFound($"group {id} not found");
            }

            if (!TryPlan(state, topics, id, request, out List<ResetRow> plan, out string? error))
            {
                return Results.BadRequest(new ApiError(error!));
            }

            if (request.DryRun)
            {
                return Results.Ok(new ResetResult(id, true, false, null, plan));
            }

            if (!console.AllowWrites)
            {
                return Results.Json(new ApiError("writes are off (Console:AllowWrites is false)"), statusCode: StatusCodes.Status403Forbidden);
            }

            // As Kafka's OffsetCommit (AlterConsumerGroupOffsets): Read on the group and on every topic.
            if ((access.Denied(http, AclOperation.Read, AclResourceType.Group, id) ?? DeniedTopic(access, http, plan)) is { } denied)
            {
                return Results.Json(new ApiError(denied), statusCode: StatusCodes.Status403Forbidden);
            }

            if (group.State != "Empty" || group.Members > 0)
            {
                return Results.Conflict(new ResetResult(id, false, false, $"the group is {group.State} with {group.Members} members: stop its consumers first", plan));
            }

            long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var offsets = new List<(string, int, CommittedOffset)>(plan.Count);
            foreach (ResetRow row in plan)
            {
                offsets.Add((row.Topic, row.Partition, new CommittedOffset(row.Target, -1, null, now)));
            }

            ErrorCode result = groups.Commit(id, "", null, -1, offsets);
            return result == ErrorCode.None
                ? Results.Ok(new ResetResult(id, false, true, null, plan))
                : Results.Conflict(new ResetResult(id, false, false, BrokerMetrics.KafkaName(result.ToString()), plan));
        });

        api.MapDelete("/groups/{id}", (string id, HttpContext http) =>
        {
            if (!console.AllowWrites)
            {
                return Results.Json(new ApiError("writes are off (Console:AllowWrites is false)"), statusCode: StatusCodes.Status403Forbidden);
            }

            if (access.Denied(http, AclOperation.Delete, AclResourceType.Group, id) is { } denied)
            {
                return Results.Json(new ApiError(denied), statusCode: StatusCodes.Status403Forbidden); // as Kafka's DeleteGroups
            }

            ErrorCode result = groups.DeleteGroup(id);
            return result switch
            {
                ErrorCode.None => Results.NoContent(),
                ErrorCode.GroupIdNotFound => NotFound($"group {id} not found"),
                _ => Results.Conflict(new ApiError(BrokerMetrics.KafkaName(result.ToString()))),
            };
        });

        api.MapFallback(() => NotFound("no such API"));
    }

    /// <summary>
    /// Reads one page of records from <paramref name="from"/> through the partition's read path: batch by
    /// batch, stopping at <paramref name="maxRecords"/> records or <paramref name="maxBytes"/> bytes of
    /// batches read (the first batch is always read whole, as Fetch does, so a page can always move on).
    /// Compressed batches are decompressed into at most <paramref name="maxBytes"/>.
    /// </summary>
    internal static MessagePage Browse(PartitionLog log, string topic, int partition, long from, int maxRecords, int maxBytes)
    {
        long start = log.LogStartOffset;
        long end = log.LogEndOffset;
        var messages = new List<MessageView>();
        long position = from;
        int bytesRead = 0;
        int returned = 0;
        bool truncated = false;
        while (messages.Count < maxRecords && position < end && bytesRead < maxBytes)
        {
            using LogReadResult read = log.Read(position, Math.Max(1, Math.Min(maxBytes - bytesRead, 1024 * 1024)));
            if (read.Status != ReadStatus.Success || read.Records.IsEmpty)
            {
                break;
            }

            ReadOnlySpan<byte> batches = read.Records.Span;
            long next = position;
            while (batches.Length >= RecordBatch.HeaderSize && messages.Count < maxRecords)
            {
                RecordBatchHeader header = RecordBatchHeader.Read(batches);
                if (header.BatchLength < RecordBatch.MinBatchLength || header.TotalSize > batches.Length)
                {
                    truncated = true;
                    break;
                }

                if (bytesRead > 0 && bytesRead + header.TotalSize > maxBytes)
                {
                    truncated = true;
                    break;
                }

                bytesRead += header.TotalSize;
                ReadOnlySpan<byte> batch = batches[..header.TotalSize];
                batches = batches[header.TotalSize..];
                next = header.LastOffset + 1;
                if (header.IsControl)
                {
                    continue;
                }

                if (!AddRecords(batch, header, position, maxRecords, maxBytes, messages, ref returned, ref next))
                {
                    truncated = true;
                    break;
                }
            }

            if (next <= position || truncated)
            {
                break;
            }

            position = next;
        }

        // Stopped by the byte budget with records left to show: the page is shorter than asked.
        truncated |= messages.Count < maxRecords && position < end && bytesRead >= maxBytes;
        long first = messages.Count > 0 ? messages[0].Offset : from;
        long nextOffset = messages.Count > 0 ? messages[^1].Offset + 1 : Math.Min(position, end);
        return new MessagePage(topic, partition, start, end, from, nextOffset, Math.Max(start, first - maxRecords), bytesRead, truncated, messages);
    }

    private static bool AddRecords(ReadOnlySpan<byte> batch, in RecordBatchHeader header, long from, int maxRecords, int maxBytes,
        List<MessageView> messages, ref int returned, ref long next)
    {
        ReadOnlySpan<byte> body = batch[RecordBatch.HeaderSize..];
        ArrayBufferWriter<byte>? inflated = null;
        if (header.Compression != CompressionType.None)
        {
            inflated = new ArrayBufferWriter<byte>();
            if (!CompressionCodecs.TryDecompress(header.Compression, body, inflated, maxBytes, out _))
            {
                return false;
            }

            body = inflated.WrittenSpan;
        }

        string type = header.IsLogAppendTime ? "LogAppendTime" : "CreateTime";
        var reader = new RecordReader(body);
        while (reader.TryRead(out RecordView record))
        {
            long offset = header.BaseOffset + record.OffsetDelta;
            if (offset < from)
            {
                continue;
            }

            int size = record.Key.Length + record.Value.Length + record.Headers.Length;
            if (messages.Count >= maxRecords || (messages.Count > 0 && returned + size > maxBytes))
            {
                next = offset;
                return messages.Count >= maxRecords;
            }

            returned += size;
            messages.Add(new MessageView(offset, header.IsLogAppendTime ? header.MaxTimestamp : header.BaseTimestamp + record.TimestampDelta, type,
                record.KeyIsNull ? null : Convert.ToBase64String(record.Key), record.ValueIsNull ? null : Convert.ToBase64String(record.Value),
                Headers(record.Headers, record.HeaderCount), size));
        }

        return !reader.IsMalformed;
    }

    private static List<HeaderView> Headers(ReadOnlySpan<byte> encoded, int count)
    {
        var headers = new List<HeaderView>(Math.Min(count, 64));
        int p = 0;
        for (int i = 0; i < count; i++)
        {
            if (!VarInt.TryReadInt32(encoded[p..], out int keyLength, out int n) || keyLength < 0 || keyLength > encoded.Length - p - n)
            {
                break;
            }

            p += n;
            string key = System.Text.Encoding.UTF8.GetString(encoded.Slice(p, keyLength));
            p += keyLength;
            if (!VarInt.TryReadInt32(encoded[p..], out int valueLength, out n) || valueLength < -1 || valueLength > encoded.Length - p - n)
            {
                break;
            }

            p += n;
            headers.Add(new HeaderView(key, valueLength < 0 ? null : Convert.ToBase64String(encoded.Slice(p, valueLength))));
            p += Math.Max(0, valueLength);
        }

        return headers;
    }

    private static bool TryPlan(BrokerState state, TopicRegistry topics, string group, ResetRequest request, out List<ResetRow> plan, out string? error)
    {
        plan = [];
        error = null;
        var current = new Dictionary<(string, int), long>();
        foreach (PartitionLag lag in state.Lag(group))
        {
            if (request.Topic is null || lag.Topic == request.Topic)
            {
                current[(lag.Topic, lag.Partition)] = lag.Committed;
            }
        }

        var targets = new List<(string Topic, int Partition)>(current.Keys);
        if (request.Topic is not null && topics.Get(request.Topic) is { } topic)
        {
            for (int p = 0; p < topic.Partitions.Length; p++)
            {
                if (!current.ContainsKey((topic.Name, p)))
                {
                    targets.Add((topic.Name, p));
                }
            }
        }
        else if (request.Topic is not null)
        {
            error = $"topic {request.Topic} not found";
            return false;
        }

        targets.Sort(static (a, b) => a.Topic == b.Topic ? a.Partition.CompareTo(b.Partition) : string.CompareOrdinal(a.Topic, b.Topic));
        foreach ((string name, int partition) in targets)
        {
            if (topics.Partition(name, partition) is not { } log)
            {
                continue;
            }

            long start = log.LogStartOffset;
            long end = log.LogEndOffset;
            long? target = request.To switch
            {
                "earliest" => start,
                "latest" => end,
                "offset" when request.Offset is { } o => Math.Clamp(o, start, end),
                "timestamp" when request.Timestamp is { } t => log.OffsetForTimestamp(t)?.Offset ?? end,
                _ => null,
            };
            if (target is null)
            {
                error = "to must be earliest, latest, offset (with offset) or timestamp (with timestamp, ms since the epoch)";
                return false;
            }

            plan.Add(new ResetRow(name, partition, current.TryGetValue((name, partition), out long c) ? c : null, target.Value, Math.Max(0, end - target.Value)));
        }

        return true;
    }

    private static GroupSummary? FindGroup(BrokerState state, string id)
    {
        foreach (GroupSummary group in state.ListGroups())
        {
            if (group.Id == id)
            {
                return group;
            }
        }

        return null;
    }

    private static TopicRow Row(Topic topic)
    {
        long size = 0;
        long records = 0;
        int loaded = 0;
        foreach (PartitionLog log in topic.Partitions)
        {
            if (!log.IsLoaded)
            {
                continue; // listing never loads a lazily opened partition
            }

            loaded++;
            size += log.Size;
            records += log.LogEndOffset - log.LogStartOffset;
        }

        return new TopicRow(topic.Name, TopicRegistry.IsInternal(topic.Name), topic.Partitions.Length, loaded, size, records,
            topic.Config.RetentionTime is { } r ? (long)r.TotalMilliseconds : null, topic.Config.RetentionBytes);
    }

    internal static (long Free, long Total) Disk(string directory)
    {
        try
        {
            var drive = new DriveInfo(Path.GetFullPath(directory));
            return (drive.AvailableFreeSpace, drive.TotalSize);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return (-1, -1);
        }
    }

    private static bool IsJson(HttpContext http) =>
        http.Request.ContentType is { } type && type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase);

    private static string? DeniedTopic(AdminAuthentication access, HttpContext http, List<ResetRow> plan)
    {
        foreach (ResetRow row in plan)
        {
            if (access.Denied(http, AclOperation.Read, AclResourceType.Topic, row.Topic) is { } denied)
            {
                return denied;
            }
        }

        return null;
    }

    private static IResult NotFound(string message) => Results.NotFound(new ApiError(message));

    private static T Get<T>(IServiceProvider services) where T : notnull =>
        (T)(services.GetService(typeof(T)) ?? throw new InvalidOperationException($"{typeof(T).Name} is not registered"));

    /// <summary>True for a loopback peer (the only kind admitted until the broker has authentication).</summary>
    internal static bool IsLoopback(IPAddress? address) => address is not null && IPAddress.IsLoopback(address);
}
