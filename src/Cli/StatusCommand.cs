using System.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Spectre.Console;

namespace LogBroker.Cli;

/// <summary>
/// <c>logbroker status</c>: the console's overview in the terminal (version, uptime, listeners, counts,
/// disk, throughput totals, and the groups furthest behind), read from a LogBroker broker's admin
/// listener (<c>--admin</c>, default <c>$LOGBROKER_ADMIN</c> or http://127.0.0.1:9644).
/// </summary>
internal static class StatusCommand
{
    public const string AdminVariable = "LOGBROKER_ADMIN";

    public static Command Build(CliContext context)
    {
        var admin = new Option<string>("--admin")
        {
            Description = $"URL of the broker's admin listener (default: ${AdminVariable}, else http://127.0.0.1:9644)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable(AdminVariable) is { Length: > 0 } a ? a : "http://127.0.0.1:9644",
        };
        var top = new Option<int>("--groups") { Description = "groups to list, the ones with the most lag first (default 10)", DefaultValueFactory = _ => 10 };
        var status = new Command("status", "Show the broker's overview: version, uptime, listeners, topic/partition/group counts, disk, throughput and the groups with the most lag.");
        status.Options.Add(admin);
        status.Options.Add(top);
        status.SetAction(async (r, ct) =>
        {
            if (!Uri.TryCreate(r.GetValue(admin), UriKind.Absolute, out Uri? baseUri) || baseUri.Scheme is not ("http" or "https"))
            {
                throw new CliException(ExitCodes.Usage, $"--admin: '{r.GetValue(admin)}' is not an http(s) URL.");
            }

            using var http = new HttpClient { BaseAddress = baseUri, Timeout = context.RequestTimeout(r) };
            JsonElement info = await GetAsync(http, "/api/broker", ct).ConfigureAwait(false);
            JsonElement groups = await GetAsync(http, "/api/groups", ct).ConfigureAwait(false);
            Write(context, info, groups, Math.Clamp(r.GetValue(top), 0, 1000));
            return ExitCodes.Ok;
        });
        return status;
    }

    private static void Write(CliContext context, JsonElement info, JsonElement groups, int top)
    {
        string N(string name) => info.GetProperty(name).GetInt64().ToString("N0", CultureInfo.InvariantCulture);
        var table = new Table().AddColumns("", "").HideHeaders();
        table.AddRow("version", Markup.Escape(info.GetProperty("version").GetString()!.Split('+')[0]));
        table.AddRow("node", Markup.Escape($"{info.GetProperty("nodeId").GetInt32()}  cluster {info.GetProperty("clusterId").GetString()}"));
        table.AddRow("uptime", Duration(info.GetProperty("uptimeSeconds").GetDouble()));
        table.AddRow("kafka listener", Markup.Escape($"{info.GetProperty("kafkaListener").GetString()} (advertised {info.GetProperty("advertised").GetString()})"));
        table.AddRow("admin listener", Markup.Escape(info.GetProperty("adminListener").GetString()!));
        table.AddRow("topics", N("topics"));
        table.AddRow("partitions", N("partitions"));
        table.AddRow("groups", N("groups"));
        table.AddRow("disk", Markup.Escape($"{Bytes(info.GetProperty("diskFreeBytes").GetInt64())} free of {Bytes(info.GetProperty("diskTotalBytes").GetInt64())} ({info.GetProperty("dataDirectory").GetString()})"));
        table.AddRow("records in / out", $"{N("recordsIn")} / {N("recordsOut")}");
        table.AddRow("bytes in / out", $"{Bytes(info.GetProperty("bytesIn").GetInt64())} / {Bytes(info.GetProperty("bytesOut").GetInt64())}");
        table.AddRow("console writes", info.GetProperty("allowWrites").GetBoolean() ? "allowed" : "off");
        context.Console.Write(table);

        var rows = groups.EnumerateArray().OrderByDescending(g => g.GetProperty("lag").GetInt64()).ThenBy(g => g.GetProperty("id").GetString(), StringComparer.Ordinal).Take(top).ToList();
        if (rows.Count > 0)
        {
            var lag = new Table().AddColumns("group", "state", "members", "lag", "max time lag");
            foreach (JsonElement g in rows)
            {
                lag.AddRow(Markup.Escape(g.GetProperty("id").GetString()!), Markup.Escape(g.GetProperty("state").GetString()!),
                    g.GetProperty("members").GetInt32().ToString(CultureInfo.InvariantCulture),
                    g.GetProperty("lag").GetInt64().ToString(CultureInfo.InvariantCulture),
                    g.GetProperty("maxTimeLagMs").ValueKind == JsonValueKind.Number ? Duration(g.GetProperty("maxTimeLagMs").GetInt64() / 1000.0) : "-");
            }

            context.Console.Write(lag);
        }
    }

    private static async Task<JsonElement> GetAsync(HttpClient http, string path, CancellationToken ct)
    {
        try
        {
            return await http.GetFromJsonAsync<JsonElement>(path, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new CliException(ExitCodes.Unreachable, $"the admin listener at {http.BaseAddress} did not answer {path}: {e.Message}");
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new CliException(ExitCodes.Unreachable, $"the admin listener at {http.BaseAddress} did not answer {path} in time");
        }
        catch (JsonException e)
        {
            throw new CliException(ExitCodes.Failed, $"{http.BaseAddress}{path} did not answer JSON: {e.Message}");
        }
    }

    private static string Duration(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Max(0, Math.Round(seconds)));
        return t.TotalDays >= 1 ? $"{(int)t.TotalDays}d {t.Hours}h" : t.TotalHours >= 1 ? $"{t.Hours}h {t.Minutes}m" : t.TotalMinutes >= 1 ? $"{t.Minutes}m {t.Seconds}s" : $"{t.Seconds}s";
    }

    private static string Bytes(long n)
    {
        if (n < 0)
        {
            return "-";
        }

        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = n;
        int i = 0;
        while (v >= 1024 && i < units.Length - 1)
        {
            v /= 1024;
            i++;
        }

        return i == 0 ? $"{n} B" : string.Create(CultureInfo.InvariantCulture, $"{v:0.0} {units[i]}");
    }
}
