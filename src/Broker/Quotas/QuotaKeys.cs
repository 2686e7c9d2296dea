namespace LogBroker.Broker.Quotas;

/// <summary>The quota kinds a broker enforces, and the configuration keys Kafka names them by.</summary>
internal enum QuotaType
{
    Produce = 0,
    Fetch = 1,
    Request = 2,
}

/// <summary>Kafka's quota configuration keys (QuotaConfig) and their validation.</summary>
internal static class QuotaKeys
{
    public const string ProducerByteRate = "producer_byte_rate";
    public const string ConsumerByteRate = "consumer_byte_rate";
    public const string RequestPercentage = "request_percentage";

    /// <summary>The number of <see cref="QuotaType"/> values.</summary>
    public const int Count = 3;

    public static QuotaType? Parse(string key) => key switch
    {
        ProducerByteRate => QuotaType.Produce,
        ConsumerByteRate => QuotaType.Fetch,
        RequestPercentage => QuotaType.Request,
        _ => null,
    };

    public static string Name(QuotaType type) => type switch
    {
        QuotaType.Produce => ProducerByteRate,
        QuotaType.Fetch => ConsumerByteRate,
        _ => RequestPercentage,
    };

    /// <summary>Null when <paramref name="value"/> is acceptable for <paramref name="type"/>, else why not (Kafka: byte rates are positive whole numbers, percentages positive).</summary>
    public static string? Invalid(QuotaType type, double value)
    {
        if (double.IsNaN(value) || double.IsInfinity(value) || value <= 0)
        {
            return $"{Name(type)} must be positive, not {value}";
        }

        if (type != QuotaType.Request && (value != Math.Floor(value) || value > long.MaxValue))
        {
            return $"{Name(type)} must be a whole number of bytes per second, not {value}";
        }

        return null;
    }
}
