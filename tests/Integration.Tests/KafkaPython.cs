using System.Diagnostics;

namespace LogBroker.Integration.Tests;

/// <summary>
/// Debian's kafka-python 2.0.2 (python3-kafka) as a real old client: a script is piped to python3 and
/// its output read back, with a time bound after which the process tree is killed.
/// </summary>
internal static class KafkaPython
{
    public const string Missing = "needs Debian's python3-kafka (.ci/run installs it)";

    /// <summary>True when python3 runs and imports <c>kafka</c>.</summary>
    public static bool Available() => File.Exists("/usr/bin/python3") && Run("import kafka", out _) == 0;

    /// <summary>Runs <paramref name="script"/>; returns the exit code, or -1 when it ran past <paramref name="timeoutMs"/>.</summary>
    public static int Run(string script, out string output, int timeoutMs = 90_000)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using Process process = Process.Start(start)!;
        process.StandardInput.Write(script);
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeoutMs))
        {
            process.Kill(entireProcessTree: true);
            output = "python timed out";
            return -1;
        }

        output = stdout.Result + stderr.Result;
        return process.ExitCode;
    }
}
