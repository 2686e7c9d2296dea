namespace LogBroker.Storage;

/// <summary>
/// A bound on open storage resources (<see cref="StorageOptions.MaxOpenSegments"/>) was reached
/// while every open segment was in use. Transient: the partition is not failed, and the same call
/// succeeds once a lease is given back. Surfaces as KAFKA_STORAGE_ERROR for that one request.
/// </summary>
public sealed class StorageLimitException : IOException
{
    public StorageLimitException()
    {
    }

    public StorageLimitException(string message)
        : base(message)
    {
    }

    public StorageLimitException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
