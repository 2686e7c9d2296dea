using System.Globalization;

namespace LogBroker.TestKit;

/// <summary>
/// What a process holds, read from <c>/proc</c>: its descriptors and mappings, in all and of files under one
/// directory, and its resident memory in KiB (anonymous, file-backed and the peak).
/// </summary>
public readonly record struct ProcessResources(int DataFds, int DataMaps, int Fds, int Maps, long RssAnonKb, long RssFileKb, long PeakRssKb)
{
    /// <summary>Reads them for process <paramref name="pid"/>, counting as data what lies under <paramref name="dataDirectory"/>.</summary>
    public static ProcessResources Of(int pid, string dataDirectory)
    {
        string root = Path.GetFullPath(dataDirectory).TrimEnd('/') + "/";
        int fds = 0, dataFds = 0;
        foreach (string fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            fds++;
            try
            {
                if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith(root, StringComparison.Ordinal))
                {
                    dataFds++;
                }
            }
            catch (IOException)
            {
                // the descriptor closed while being read
            }
        }

        int maps = 0, dataMaps = 0;
        foreach (string line in File.ReadLines($"/proc/{pid}/maps"))
        {
            maps++;
            dataMaps += line.Contains(root, StringComparison.Ordinal) ? 1 : 0;
        }

        long anon = 0, file = 0, peak = 0;
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
            {
                anon = Kib(line);
            }
            else if (line.StartsWith("RssFile:", StringComparison.Ordinal))
            {
                file = Kib(line);
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = Kib(line);
            }
        }

        return new ProcessResources(dataFds, dataMaps, fds, maps, anon, file, peak);
    }

    private static long Kib(string statusLine) => long.Parse(statusLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
}
