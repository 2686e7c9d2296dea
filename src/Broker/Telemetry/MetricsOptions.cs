using System.ComponentModel.DataAnnotations;

namespace LogBroker.Broker.Telemetry;

/// <summary>Metrics settings. Bound from the <c>Metrics</c> section of <c>broker.json</c>.</summary>
public sealed class MetricsOptions : IValidatableObject
{
    /// <summary>Whether the broker records metrics at all (and serves <c>/metrics</c>). Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Log metrics (start offset, high watermark, size, segments) per partition instead of per topic.
    /// Default false: with many partitions that is many series (the lag metrics are always per partition).
    /// </summary>
    public bool PerPartition { get; set; }

    /// <summary>Whether runtime metrics (GC, thread pool, JIT) are exported too. Default true.</summary>
    public bool Runtime { get; set; } = true;

    /// <summary>
    /// An OTLP collector to push metrics to, e.g. <c>http://127.0.0.1:4317</c> (gRPC) — in addition to
    /// <c>/metrics</c>. Default null: no push.
    /// </summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>How often metrics are pushed to <see cref="OtlpEndpoint"/>. Default 15 s.</summary>
    public TimeSpan OtlpInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Consumer group partitions whose lag one scrape reports, at most; the rest are left out. Default 10,000.</summary>
    [Range(1, 1_000_000)]
    public int MaxLagSeries { get; set; } = 10_000;

    /// <inheritdoc/>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (OtlpEndpoint is not null && !Uri.TryCreate(OtlpEndpoint, UriKind.Absolute, out _))
        {
            yield return new ValidationResult("OtlpEndpoint must be an absolute URI such as http://127.0.0.1:4317.", [nameof(OtlpEndpoint)]);
        }

        if (OtlpInterval < TimeSpan.FromSeconds(1) || OtlpInterval > TimeSpan.FromHours(1))
        {
            yield return new ValidationResult("OtlpInterval must be between 1 second and 1 hour.", [nameof(OtlpInterval)]);
        }
    }
}
