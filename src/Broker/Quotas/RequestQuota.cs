using System.Diagnostics;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Quotas;

/// <summary>
/// The request-time quota (request_percentage, KIP-124) as Kafka's ClientRequestQuotaManager measures it: the time
/// a request spends being decoded and handled on the connection's thread is recorded, in percent of one thread's
/// second, in the client's request sensor; over the quota, the response carries throttle_time_ms (bounded by one
/// window, as in Kafka) and the connection is muted for that long, the same mute as the byte-rate quotas.
/// </summary>
/// <remarks>
/// Exempt, as in Kafka: ApiVersions and SASL (Kafka handles them before its request quota applies), and acks=0
/// Produce (no response to carry the time). What is measured is the synchronous part of the handler: a request
/// that waits (a parked Fetch, an acks=all fsync, a JoinGroup) is not charged for the time it waits, as Kafka's
/// purgatory is not; the encoding of the response in the write loop is not charged either.
/// </remarks>
internal sealed class RequestQuota(ClientQuotaManager quotas)
{
    // Kafka's nanosToPercentage: 1 s of one thread's time is 100 (percent).
    private static readonly double PercentPerTick = 100.0 / Stopwatch.Frequency;

    /// <summary>Whether any request_percentage is configured (else nothing is timed).</summary>
    public bool Enabled => quotas.IsEnabled(QuotaType.Request);

    /// <summary>Charges the time since <paramref name="started"/> to the request's client; the throttle time (0: none).</summary>
    public int Record(RequestContext context, IKafkaMessage request, long started)
    {
        long elapsed = Stopwatch.GetTimestamp() - started;
        if (IsExempt(context.ApiKey, request))
        {
            return 0;
        }

        return quotas.RecordAndGetThrottleMs(QuotaType.Request, context.Session?.Principal ?? ConnectionSession.Anonymous, context.ClientId, elapsed * PercentPerTick);
    }

    /// <summary>Puts <paramref name="throttleMs"/> into the response and the connection's mute (the larger of it and a byte-rate throttle).</summary>
    public static void Apply(RequestContext context, int throttleMs)
    {
        if (throttleMs <= 0 || context.Response is null)
        {
            return;
        }

        context.ThrottleMs = Math.Max(context.ThrottleMs, throttleMs);
        if (context.Response is IThrottledResponse throttled)
        {
            throttled.ThrottleTimeMs = Math.Max(throttled.ThrottleTimeMs, throttleMs);
        }
    }

    private static bool IsExempt(ApiKey key, IKafkaMessage request) =>
        key is ApiKey.ApiVersions or ApiKey.SaslHandshake or ApiKey.SaslAuthenticate
        || request is ProduceRequest { Acks: 0 };
}
