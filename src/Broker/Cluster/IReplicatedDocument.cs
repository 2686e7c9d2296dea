namespace LogBroker.Broker.Cluster;

/// <summary>
/// A store whose whole state is one small JSON document (ACLs, SCRAM credentials, client quotas). On a single node the
/// document is a file in the data directory; in cluster mode it is a key of the controller store, changed by
/// compare-and-set and installed by every broker from its watch (<see cref="ClusterDocuments"/>), so that what one
/// broker was told holds on all of them. The file is then the cache a restarting broker starts from.
/// </summary>
internal interface IReplicatedDocument
{
    /// <summary>The document's name under the controller store's documents prefix.</summary>
    string Name { get; }

    /// <summary>
    /// While set, a change computes its document into the stage instead of writing and showing it; the cluster write
    /// then installs it (<see cref="Install"/>). Set only by <see cref="ClusterDocuments"/>, one change at a time.
    /// </summary>
    DocumentStage? Stage { get; set; }

    /// <summary>The state held, as its document.</summary>
    byte[] Document();

    /// <summary>
    /// Installs a document of the cluster (<see cref="ClusterDocuments"/> calls it with revisions in order): parsed and
    /// bounded as the file is at start, made visible, and written to the local file.
    /// </summary>
    /// <exception cref="InvalidDataException">The document is malformed or over a limit; nothing changed.</exception>
    void Install(byte[] document);
}

/// <summary>Where a staged change leaves its document (null: the change changed nothing).</summary>
internal sealed class DocumentStage
{
    public byte[]? Document { get; set; }
}

/// <summary>Writes an installed cluster document to its local file, the cache a restarting broker starts from.</summary>
internal static partial class ClusterDocumentCache
{
    /// <summary>A failed write is logged, not thrown: the cluster's state applies whether or not the cache could be kept.</summary>
    public static void Write(string? path, byte[] document, Microsoft.Extensions.Logging.ILogger logger)
    {
        if (path is null)
        {
            return;
        }

        try
        {
            Storage.Checkpoints.AtomicFile.Write(path, document);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            CacheFailed(logger, e, path);
        }
    }

    [Microsoft.Extensions.Logging.LoggerMessage(EventId = 1421, Level = Microsoft.Extensions.Logging.LogLevel.Warning,
        Message = "The cluster's document could not be cached in {Path}; it applies, and a restart reads it from the cluster")]
    private static partial void CacheFailed(Microsoft.Extensions.Logging.ILogger logger, Exception exception, string path);
}
