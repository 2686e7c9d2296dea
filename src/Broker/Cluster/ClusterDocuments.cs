using LogBroker.Broker.Security;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// The cluster's ACLs, SCRAM credentials and client quotas (<see cref="IReplicatedDocument"/>s), one key each under
/// <c>/documents/</c> of the controller store, so that a user created, an ACL granted or revoked, or a quota set at
/// one broker holds at every broker, as in Kafka. A change (<see cref="ChangeAsync{T}"/>) computes the new document
/// from the state held and writes it conditioned on that state's revision; when another broker wrote first, the
/// newer document is installed and the change computed again. Every broker installs each document from a watch, and
/// at start from a read; a cluster that has no document yet is given this broker's (so a single node's ACLs, users
/// and quotas carry over when it becomes the first member of a cluster).
/// </summary>
/// <remarks>
/// A document is at most <see cref="MaxBytes"/> (etcd refuses requests over 1.5 MiB by default): a change past it is
/// refused with an <see cref="IOException"/>, which the handlers answer as a storage error, and nothing changes.
/// Until the first read a broker serves with the document its local cache file holds (what it last installed).
/// </remarks>
internal sealed partial class ClusterDocuments(
    IControllerStore store, ClusterOptions options, IEnumerable<IReplicatedDocument> documents, SecurityOptions security, ILogger<ClusterDocuments> logger)
    : BackgroundService
{
    /// <summary>The largest document written to the controller store.</summary>
    public const int MaxBytes = 1024 * 1024;

    private readonly string _prefix = options.KeyRoot + "/documents/";
    private readonly Dictionary<IReplicatedDocument, Slot> _slots = documents.ToDictionary(d => d, _ => new Slot());
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once every document has been read from the cluster (or given to it) once.</summary>
    public Task Synced => _synced.Task;

    /// <summary>
    /// Runs <paramref name="change"/> on the store: at once on a single node (<paramref name="cluster"/> null; the store
    /// writes its file), through <see cref="ChangeAsync{T}"/> in cluster mode.
    /// </summary>
    public static ValueTask<T> RunAsync<T>(ClusterDocuments? cluster, IReplicatedDocument document, Func<T> change, CancellationToken cancellationToken) =>
        cluster is null ? ValueTask.FromResult(change()) : new ValueTask<T>(cluster.ChangeAsync(document, change, cancellationToken));

    /// <summary>
    /// Runs <paramref name="change"/> (a call of the document's own change method) and makes what it changed the
    /// cluster's, before returning its result. It runs again on the newer document when another broker wrote first.
    /// </summary>
    /// <exception cref="IOException">The document would exceed <see cref="MaxBytes"/>, or kept changing; nothing changed.</exception>
    public async Task<T> ChangeAsync<T>(IReplicatedDocument document, Func<T> change, CancellationToken cancellationToken)
    {
        string key = _prefix + document.Name;
        Slot slot = _slots[document];
        await slot.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (int attempt = 0; attempt < 5; attempt++)
            {
                long basis;
                lock (slot.Sync)
                {
                    basis = slot.Revision;
                }

                var stage = new DocumentStage();
                document.Stage = stage;
                T result;
                try
                {
                    result = change();
                }
                finally
                {
                    document.Stage = null;
                }

                if (stage.Document is not { } next)
                {
                    return result; // nothing changed
                }

                if (next.Length > MaxBytes)
                {
                    throw new IOException($"The cluster's {document.Name} would be {next.Length} bytes, over the {MaxBytes}-byte limit of a controller-store document.");
                }

                StoreCompare unchanged = basis == 0 ? StoreCompare.Absent(key) : StoreCompare.ModifiedAt(key, basis);
                var written = await store.TxnAsync([unchanged], [new StoreOp.Put(key, next)], [], cancellationToken).ConfigureAwait(false);
                if (written.Succeeded)
                {
                    InstallIfNewer(document, next, written.Revision);
                    return result;
                }

                // Another broker wrote first (or this one has not read the document yet): take theirs, then change it.
                if (await store.GetAsync(key, cancellationToken).ConfigureAwait(false) is { } current)
                {
                    InstallIfNewer(document, current.Value, current.ModRevision);
                }
            }

            throw new IOException($"The cluster's {document.Name} kept changing; try again.");
        }
        catch (Exception e) when (e is not (IOException or InvalidOperationException or OperationCanceledException))
        {
            throw new IOException($"The cluster's {document.Name} could not be written to the controller store: {e.Message}", e);
        }
        finally
        {
            slot.Gate.Release();
        }
    }

    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await FollowAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                FollowFailed(logger, e); // a compacted watch revision, or the store unreachable: read again
            }

            await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false);
        }
    }

    private async Task FollowAsync(CancellationToken cancellationToken)
    {
        var range = await store.RangeAsync(_prefix, cancellationToken).ConfigureAwait(false);
        foreach (IReplicatedDocument document in _slots.Keys)
        {
            string key = _prefix + document.Name;
            if (range.Items.FirstOrDefault(kv => kv.Key == key) is { } kv)
            {
                Install(document, kv);
            }
            else
            {
                // The cluster has none yet: this broker's becomes the cluster's (unless another broker's came first).
                byte[] mine = document.Document();
                var seeded = await store.TxnAsync([StoreCompare.Absent(key)], [new StoreOp.Put(key, mine)], [], cancellationToken).ConfigureAwait(false);
                if (seeded.Succeeded)
                {
                    InstallIfNewer(document, mine, seeded.Revision);
                    Seeded(logger, document.Name);
                }
                else if (await store.GetAsync(key, cancellationToken).ConfigureAwait(false) is { } theirs)
                {
                    Install(document, theirs);
                }
            }
        }

        // The configured first user exists in the cluster's credentials too, not only in this broker's file.
        if (_slots.Keys.OfType<ScramCredentialStore>().FirstOrDefault() is { } scram)
        {
            await ChangeAsync(scram, () =>
            {
                scram.EnsureInitialUser(security);
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }

        _synced.TrySetResult();
        await foreach (var e in store.WatchAsync(_prefix, range.Revision + 1, cancellationToken).ConfigureAwait(false))
        {
            if (!e.IsDelete && _slots.Keys.FirstOrDefault(d => _prefix + d.Name == e.Kv.Key) is { } document)
            {
                Install(document, e.Kv);
            }
        }
    }

    private void Install(IReplicatedDocument document, StoreKeyValue kv)
    {
        try
        {
            if (kv.Value.Length > MaxBytes)
            {
                throw new InvalidDataException($"{kv.Value.Length} bytes, over the {MaxBytes}-byte limit");
            }

            InstallIfNewer(document, kv.Value, kv.ModRevision);
        }
        catch (InvalidDataException e)
        {
            Malformed(logger, e, document.Name, kv.ModRevision); // the state held stays
        }
    }

    public override void Dispose()
    {
        foreach (Slot slot in _slots.Values)
        {
            slot.Gate.Dispose();
        }

        base.Dispose();
    }

    /// <summary>
    /// Installs the document of store revision <paramref name="revision"/> unless the one held is as new: the watch,
    /// the read at start and this broker's own writes all deliver documents, in no fixed order between them.
    /// </summary>
    private void InstallIfNewer(IReplicatedDocument document, byte[] value, long revision)
    {
        Slot slot = _slots[document];
        lock (slot.Sync)
        {
            if (revision > slot.Revision)
            {
                document.Install(value);
                slot.Revision = revision;
            }
        }
    }

    /// <summary>Per document: one change at a time from this broker, and the revision of the state it holds (0: none from the cluster yet).</summary>
    private sealed class Slot
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public Lock Sync { get; } = new();

        /// <summary>Read and written under <see cref="Sync"/>.</summary>
        public long Revision { get; set; }
    }

    [LoggerMessage(EventId = 1423, Level = LogLevel.Warning, Message = "Following the cluster's ACLs, credentials and quotas failed; reading them again")]
    private static partial void FollowFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1424, Level = LogLevel.Information, Message = "The cluster had no {Document}: this broker's became the cluster's")]
    private static partial void Seeded(ILogger logger, string document);

    [LoggerMessage(EventId = 1425, Level = LogLevel.Error, Message = "The cluster's {Document} at revision {Revision} is malformed and was not installed")]
    private static partial void Malformed(ILogger logger, Exception exception, string document, long revision);
}
