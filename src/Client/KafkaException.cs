using LogBroker.Protocol;

namespace LogBroker.Client;

/// <summary>An error from a broker or from the client, with its Kafka error code.</summary>
public class KafkaException : Exception
{
    /// <summary>Creates an exception for <paramref name="errorCode"/>.</summary>
    public KafkaException(ErrorCode errorCode, string message, Exception? innerException = null)
        : base(message, innerException) => ErrorCode = errorCode;

    /// <summary>The Kafka error code (<see cref="ErrorCode.NetworkException"/> for connection failures).</summary>
    public ErrorCode ErrorCode { get; }

    /// <summary>True when the same operation may succeed if tried again.</summary>
    public bool IsRetriable => ErrorCode.IsRetriable();
}

/// <summary>A record or batch that could not be delivered.</summary>
public sealed class ProduceException : KafkaException
{
    /// <summary>Creates the exception.</summary>
    public ProduceException(ErrorCode errorCode, string message, TopicPartition partition, Exception? innerException = null)
        : base(errorCode, message, innerException) => Partition = partition;

    /// <summary>The partition the record was meant for (partition -1 when none was chosen).</summary>
    public TopicPartition Partition { get; }
}
