using System.Globalization;

namespace LogBroker.Client.Network;

internal static class Endpoints
{
    /// <summary>Parses "host:port,host:port" (IPv6 hosts in brackets).</summary>
    public static List<(string Host, int Port)> Parse(string servers)
    {
        var list = new List<(string, int)>();
        foreach (string part in servers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int colon = part.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(part.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
            {
                throw new ArgumentException($"'{part}' in BootstrapServers is not host:port.", nameof(servers));
            }

            list.Add((part[..colon].Trim('[', ']'), port));
        }

        return list.Count > 0 ? list : throw new ArgumentException("BootstrapServers names no server.", nameof(servers));
    }
}
