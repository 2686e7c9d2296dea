using System.Globalization;
using System.Text;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// Controller election on the store: a broker becomes controller by creating <see cref="Key"/> under its own
/// lease with a create-if-absent transaction. The key's create revision is the controller epoch: it grows with
/// every new controller, and every metadata write the controller makes is a transaction conditioned on the key
/// still having that create revision (<see cref="Fence"/>), so a deposed controller (its lease expired while it
/// was paused) cannot write even if it still believes it leads. The lock alone is not mutual exclusion; the
/// fenced transaction is.
/// </summary>
public sealed class ControllerElection(IControllerStore store, int brokerId, string key = ControllerElection.DefaultKey)
{
    /// <summary>The controller key: its value is the controller's broker id.</summary>
    public const string DefaultKey = "/controller";

    /// <summary>The election key.</summary>
    public string Key { get; } = key;

    /// <summary>
    /// Tries to become controller under <paramref name="lease"/>; returns the controller epoch when won,
    /// or null when another broker holds the key.
    /// </summary>
    public async Task<long?> TryCampaignAsync(long lease, CancellationToken cancellationToken)
    {
        var value = Encoding.UTF8.GetBytes(brokerId.ToString(CultureInfo.InvariantCulture));
        var result = await store.TxnAsync(
            [StoreCompare.Absent(Key)], [new StoreOp.Put(Key, value, lease)], [], cancellationToken).ConfigureAwait(false);
        return result.Succeeded ? result.Revision : null;
    }

    /// <summary>The current controller's broker id and epoch, or null when there is none.</summary>
    public async Task<(int BrokerId, long Epoch)?> CurrentAsync(CancellationToken cancellationToken)
    {
        var kv = await store.GetAsync(Key, cancellationToken).ConfigureAwait(false);
        if (kv is null || !int.TryParse(Encoding.UTF8.GetString(kv.Value), NumberStyles.Integer, CultureInfo.InvariantCulture, out var id))
        {
            return null;
        }

        return (id, kv.CreateRevision);
    }

    /// <summary>The compare that fences a write to the controller of <paramref name="epoch"/>.</summary>
    public StoreCompare Fence(long epoch) => StoreCompare.CreatedAt(Key, epoch);

    /// <summary>
    /// Applies <paramref name="ops"/> only while the controller of <paramref name="epoch"/> still holds the key
    /// and every extra compare holds; false when refused (deposed, or a compare failed).
    /// </summary>
    public async Task<bool> FencedWriteAsync(
        long epoch, IReadOnlyList<StoreCompare> compares, IReadOnlyList<StoreOp> ops, CancellationToken cancellationToken)
    {
        var all = new List<StoreCompare>(compares.Count + 1) { Fence(epoch) };
        all.AddRange(compares);
        var result = await store.TxnAsync(all, ops, [], cancellationToken).ConfigureAwait(false);
        return result.Succeeded;
    }

    /// <summary>Steps down: deletes the key only if it is still this epoch's (never a successor's).</summary>
    public Task ResignAsync(long epoch, CancellationToken cancellationToken) =>
        store.TxnAsync([Fence(epoch)], [new StoreOp.Delete(Key)], [], cancellationToken);
}
