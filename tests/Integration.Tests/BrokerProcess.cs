using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace LogBroker.Integration.Tests;

/// <summary>
/// The broker as a real child process (the built logbroker-broker.dll), so that tests can stop it
/// with SIGTERM or kill it with SIGKILL exactly as an operator or a crash would.
/// </summary>
public sealed class BrokerProcess : IAsyncDisposable
{
    private const int KeptLines = 2000;

    private readonly Process _process;
    private readonly Queue<string> _output = new();

    private BrokerProcess(Process process, string host, int port)
    {
        _process = process;
        Host = host;
        Port = port;
    }

    /// <summary>The address the broker's first listener is on (127.0.0.1 unless it runs in a namespace of its own).</summary>
    public string Host { get; }

    public int Port { get; }

    /// <summary>The last lines the broker wrote (stdout and stderr; warnings and errors at the default log level), oldest first.</summary>
    public string[] RecentOutput()
    {
        lock (_output)
        {
            return [.. _output];
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            if (_output.Count == KeptLines)
            {
                _output.Dequeue();
            }

            _output.Enqueue(line);
        }
    }

    /// <summary>The broker's process id (for /proc readings).</summary>
    public int Pid => _process.Id;

    /// <summary>A field of /proc/PID/status in KiB (VmRSS, RssAnon, VmHWM, …).</summary>
    public long StatusKiB(string field)
    {
        foreach (string line in File.ReadLines($"/proc/{Pid}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(field.Length + 1).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"{field} not in /proc/{Pid}/status");
    }

    public string Bootstrap => $"{Host}:{Port}";

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>A port that was free a moment ago (bind to 0, read it, release it).</summary>
    public static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    public static Task<BrokerProcess> StartAsync(string dataDirectory, int port, params string[] settings) =>
        StartAsync(dataDirectory, port, settings, new Dictionary<string, string>());

    /// <summary>Starts the broker with extra environment variables (secrets such as the initial password).</summary>
    public static Task<BrokerProcess> StartAsync(string dataDirectory, int port, string[] settings, IReadOnlyDictionary<string, string> environment) =>
        StartAsync(dataDirectory, "127.0.0.1", port, settings, environment, []);

    /// <summary>
    /// Starts the broker listening at <paramref name="host"/>:<paramref name="port"/>, run through
    /// <paramref name="launcher"/> when one is given (e.g. <c>ip netns exec NAME</c>, which execs the broker: the PID
    /// stays the broker's).
    /// </summary>
    public static async Task<BrokerProcess> StartAsync(
        string dataDirectory, string host, int port, string[] settings, IReadOnlyDictionary<string, string> environment, IReadOnlyList<string> launcher)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "logbroker-broker.dll");
        string[] command = [.. launcher, Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet"];
        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dataDirectory,
        };
        foreach ((string name, string value) in environment)
        {
            start.Environment[name] = value;
        }

        foreach (string arg in (string[])[.. command[1..], dll, $"--Broker:Listener={host}:{port}", $"--Storage:DataDirectory={dataDirectory}",
                     "--Admin:Enabled=false", "--Logging:LogLevel:Default=Warning", .. settings])
        {
            start.ArgumentList.Add(arg);
        }

        Process process = Process.Start(start) ?? throw new InvalidOperationException("could not start the broker");
        var broker = new BrokerProcess(process, host, port);
        process.OutputDataReceived += (_, e) => broker.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => broker.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await broker.WaitUntilListeningAsync(TimeSpan.FromSeconds(60));
        return broker;
    }

    /// <summary>SIGKILL: no shutdown code runs at all.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>SIGTERM, as systemd or Ctrl-C would send; waits for the process to exit.</summary>
    public async Task TerminateAsync()
    {
        await SignalAsync("TERM");
        await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>SIGSTOP: the process stays, frozen (its leases and connections time out as a hung broker's would).</summary>
    public Task PauseAsync() => SignalAsync("STOP");

    /// <summary>SIGCONT after <see cref="PauseAsync"/>.</summary>
    public Task ResumeAsync() => SignalAsync("CONT");

    private async Task SignalAsync(string signal)
    {
        using Process kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync(CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await KillAsync();
        }

        _process.Dispose();
    }

    private async Task WaitUntilListeningAsync(TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException(
                    $"the broker exited with {_process.ExitCode} before listening: {string.Join(Environment.NewLine, RecentOutput().Where(l => !l.TrimStart().StartsWith("at ", StringComparison.Ordinal)).TakeLast(20))}");
            }

            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Parse(Host), Port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }

        throw new TimeoutException("the broker did not start listening");
    }
}
