namespace LogBroker.Storage;

/// <summary>
/// A bound on open storage resources (<see cref="StorageOptions.MaxOpenSegments"/>) was reached
/// while every open segment was in use, or the process's own limit of descriptors or mappings
/// (EMFILE, ENFILE, ENOMEM from mmap) and closing idle segments did not make room. Transient: the partition is not failed, and the same call
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
