using System.ComponentModel.DataAnnotations;
using System.Net;

namespace LogBroker.Broker.Admin;

/// <summary>The HTTP admin listener (metrics, health, console, JSON API). Bound from the <c>Admin</c> section of <c>broker.json</c>.</summary>
public sealed class AdminOptions : IValidatableObject
{
    /// <summary>Whether the admin listener runs. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Address and port of the admin listener. Default 127.0.0.1:9644; port 0 picks a free port (tests).
    /// It must be a loopback address (127.0.0.0/8 or ::1) unless authentication is required and a Kafka
    /// listener has a certificate (then it is served over TLS): see <see cref="AdminAuthentication"/>.
    /// </summary>
    [Required]
    public string Listener { get; set; } = "127.0.0.1:9644";

    /// <summary>
    /// Whether every path but the health probes needs HTTP Basic credentials of a SCRAM user. Default
    /// false; authentication is also required, whatever this says, when any Kafka listener uses SASL.
    /// </summary>
    public bool RequireAuthentication { get; set; }

    /// <inheritdoc/>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!IPEndPoint.TryParse(Listener, out _))
        {
            yield return new ValidationResult("Admin:Listener must be an IP address and port, e.g. 127.0.0.1:9644.", [nameof(Listener)]);
        }
    }
}

/// <summary>The web console and its JSON API. Bound from the <c>Console</c> section of <c>broker.json</c>.</summary>
public sealed class ConsoleOptions
{
    /// <summary>Whether the console's write actions (offset reset, delete group) are allowed. Default false: read-only.</summary>
    public bool AllowWrites { get; set; }

    /// <summary>How often consumer group lag (and produce/fetch rates) are sampled for the charts. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan LagSampleInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Samples kept per group (and for the rates), oldest dropped first. Default 720 (an hour at 5 s).</summary>
    [Range(2, 100_000)]
    public int LagHistoryLength { get; set; } = 720;

    /// <summary>Groups whose lag history is kept; groups past this are not sampled. Default 1,000.</summary>
    [Range(1, 100_000)]
    public int LagHistoryMaxGroups { get; set; } = 1000;

    /// <summary>Records one message-browser call returns at most (its <c>limit</c> is clamped to this). Default 500.</summary>
    [Range(1, 10_000)]
    public int MaxBrowseRecords { get; set; } = 500;

    /// <summary>Stored batch bytes one message-browser call reads at most. Default 4 MiB.</summary>
    [Range(1024, 256 * 1024 * 1024)]
    public int MaxBrowseBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Topics (or groups) one list call returns at most (<c>limit</c> is clamped to this). Default 5,000.</summary>
    [Range(1, 1_000_000)]
    public int MaxListItems { get; set; } = 5000;
}
