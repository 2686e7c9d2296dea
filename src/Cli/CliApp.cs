using System.CommandLine;
using System.Globalization;
using LogBroker.Client;
using LogBroker.Protocol;
using Spectre.Console;

namespace LogBroker.Cli;

/// <summary>The documented exit codes of the logbroker tool.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;
    public const int Unreachable = 3;
    public const int NotFound = 4;
    public const int OutOfRange = 5;
    public const int Refused = 6;
}

/// <summary>An error reported as one line and an exit code.</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>Where a command writes and reads, so tests can drive the tool in process.</summary>
internal sealed class CliContext(TextWriter output, TextWriter error, TextReader input, bool interactive)
{
    public TextWriter Output { get; } = output;

    public TextWriter Error { get; } = error;

    public TextReader Input { get; } = input;

    public bool Interactive { get; } = interactive;

    public IAnsiConsole Console { get; } = AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(output),
        Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
        ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        Interactive = interactive ? InteractionSupport.Detect : InteractionSupport.No,
    });

    public Option<string> Bootstrap { get; } = new("--bootstrap", "-b")
    {
        Description = $"host:port of a broker (default: ${CliApp.BootstrapVariable}, else 127.0.0.1:9092)",
        Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(CliApp.BootstrapVariable) is { Length: > 0 } b ? b : "127.0.0.1:9092",
    };

    public Option<double> Timeout { get; } = new("--timeout")
    {
        Description = "seconds to wait for the broker on each request (default 10)",
        Recursive = true,
        DefaultValueFactory = _ => 10,
    };

    /// <summary>TLS and SASL options, and <c>--command-config</c>.</summary>
    public CliSecurity Security { get; } = new();

    /// <summary><paramref name="options"/> with the command line's security settings.</summary>
    public T Secure<T>(ParseResult r, T options)
        where T : ClientOptions => Security.Apply(r, options);

    /// <summary>The bootstrap servers the command line asks for.</summary>
    public string BootstrapServers(ParseResult r) => r.GetValue(Bootstrap)!;

    /// <summary>The per-request timeout the command line asks for.</summary>
    public TimeSpan RequestTimeout(ParseResult r) => TimeSpan.FromSeconds(Math.Clamp(r.GetValue(Timeout), 0.1, 3600));
}

/// <summary>The command tree and its error handling.</summary>
internal static class CliApp
{
    public const string BootstrapVariable = "LOGBROKER_BOOTSTRAP";

    public static async Task<int> RunAsync(string[] args, CliContext context, CancellationToken cancellationToken)
    {
        var root = new RootCommand("logbroker: manage a LogBroker (or any Kafka-compatible) cluster, produce, consume, and replay history.\n" +
            "Exit codes: 0 ok, 1 failed, 2 bad arguments, 3 broker unreachable, 4 unknown topic or group, 5 offset or time out of range, 6 refused (e.g. the group has active members).");
        root.Options.Add(context.Bootstrap);
        root.Options.Add(context.Timeout);
        root.Subcommands.Add(TopicCommands.Build(context));
        root.Subcommands.Add(ProduceConsumeCommands.BuildProduce(context));
        root.Subcommands.Add(ProduceConsumeCommands.BuildConsume(context));
        root.Subcommands.Add(GroupCommands.Build(context));
        root.Subcommands.Add(ReplayCommand.Build(context));
        root.Subcommands.Add(StatusCommand.Build(context));
        root.Subcommands.Add(UserCommands.Build(context));
        root.Subcommands.Add(ClusterCommands.Build(context));
        context.Security.AddTo(root);

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (System.CommandLine.Parsing.ParseError e in parsed.Errors)
            {
                await context.Error.WriteLineAsync("error: " + e.Message).ConfigureAwait(false);
            }

            return ExitCodes.Usage;
        }

        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration
            {
                Output = context.Output,
                Error = context.Error,
                EnableDefaultExceptionHandler = false,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (Describe(e) is { } failure)
        {
            await context.Error.WriteLineAsync("error: " + failure.Message).ConfigureAwait(false);
            return failure.Code;
        }
    }

    /// <summary>Maps an exception to a one-line message and an exit code (null for real bugs, which keep their stack trace).</summary>
    private static (string Message, int Code)? Describe(Exception e) => e switch
    {
        CliException c => (c.Message, c.ExitCode),
        KafkaException k => (k.Message, k.ErrorCode switch
        {
            ErrorCode.NetworkException or ErrorCode.RequestTimedOut => ExitCodes.Unreachable,
            ErrorCode.UnknownTopicOrPartition or ErrorCode.GroupIdNotFound or ErrorCode.UnknownTopicId => ExitCodes.NotFound,
            ErrorCode.OffsetOutOfRange => ExitCodes.OutOfRange,
            ErrorCode.TopicAlreadyExists or ErrorCode.NonEmptyGroup or ErrorCode.UnknownMemberId or ErrorCode.RebalanceInProgress => ExitCodes.Refused,
            _ => ExitCodes.Failed,
        }),
        OperationCanceledException => ("cancelled", ExitCodes.Failed),
        IOException io => (io.Message, ExitCodes.Failed),
        UnauthorizedAccessException ua => (ua.Message, ExitCodes.Failed),
        _ => null,
    };

    /// <summary>Parses a time: ISO-8601 (UTC when no offset is given) or Unix epoch milliseconds.</summary>
    public static DateTimeOffset ParseTime(string text, string option)
    {
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long ms))
        {
            return DateTimeOffset.FromUnixTimeMilliseconds(ms);
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset time)
            ? time
            : throw new CliException(ExitCodes.Usage, $"{option}: '{text}' is not an ISO-8601 time (2026-11-23T10:00:00Z) or epoch milliseconds.");
    }

    /// <summary>Parses a duration: ISO-8601 (PT1H30M, P1D), a .NET TimeSpan (01:30:00), or a number with s, m, h or d.</summary>
    public static TimeSpan ParseDuration(string text, string option)
    {
        string t = text.Trim();
        bool negative = t.StartsWith('-');
        string body = negative ? t[1..] : t;
        TimeSpan value;
        if (body.StartsWith('P'))
        {
            try
            {
                value = System.Xml.XmlConvert.ToTimeSpan(body);
            }
            catch (FormatException)
            {
                throw new CliException(ExitCodes.Usage, $"{option}: '{text}' is not a duration.");
            }
        }
        else if (body.Length > 1 && "smhd".Contains(body[^1], StringComparison.Ordinal) &&
            double.TryParse(body[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out double n))
        {
            value = body[^1] switch
            {
                's' => TimeSpan.FromSeconds(n),
                'm' => TimeSpan.FromMinutes(n),
                'h' => TimeSpan.FromHours(n),
                _ => TimeSpan.FromDays(n),
            };
        }
        else if (!TimeSpan.TryParse(body, CultureInfo.InvariantCulture, out value))
        {
            throw new CliException(ExitCodes.Usage, $"{option}: '{text}' is not a duration (PT1H, 90m, 01:30:00).");
        }

        return negative ? -value : value;
    }

    /// <summary>Parses k=v pairs.</summary>
    public static Dictionary<string, string> ParsePairs(IEnumerable<string>? pairs, string option)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string pair in pairs ?? [])
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new CliException(ExitCodes.Usage, $"{option}: '{pair}' is not key=value.");
            }

            result[pair[..eq]] = pair[(eq + 1)..];
        }

        return result;
    }

    /// <summary>Parses "0,2,5-7".</summary>
    public static List<int>? ParsePartitions(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var list = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int dash = part.IndexOf('-', StringComparison.Ordinal);
            if (dash > 0 && int.TryParse(part[..dash], CultureInfo.InvariantCulture, out int from) && int.TryParse(part[(dash + 1)..], CultureInfo.InvariantCulture, out int to) && from <= to)
            {
                for (int p = from; p <= to; p++)
                {
                    list.Add(p);
                }
            }
            else if (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int p))
            {
                list.Add(p);
            }
            else
            {
                throw new CliException(ExitCodes.Usage, $"--partitions: '{part}' is not a partition number or range.");
            }
        }

        return list;
    }
}
