using System.Collections.Concurrent;
using LogBroker.Protocol;

namespace LogBroker.Broker.Metadata;

/// <summary>
/// Cluster mode: topics are decided by the controller and materialised here by the broker's cluster session
/// (Cluster/TopicMaterializer). A local topic the cluster does not know is detached, never deleted on the
/// strength of a missing record: its data stays on disk, it is no longer served, and it comes back detached
/// at the next start until an operator deletes it or the cluster creates a topic of the same name (then the
/// cluster's topic wins and the old data goes, as a KRaft broker deletes a stray log).
/// </summary>
internal sealed partial class TopicRegistry
{
    private readonly ConcurrentDictionary<string, Topic> _detached = new(StringComparer.Ordinal);

    /// <summary>Topics taken out of service because the cluster does not know them (data kept), by name.</summary>
    public IReadOnlyDictionary<string, Topic> Detached => _detached;

    /// <summary>
    /// Takes a topic out of service without deleting anything: no tombstone, no directory removed. Returns false
    /// when it does not exist or a change of it is in flight (the caller tries again later).
    /// </summary>
    public bool Detach(string name)
    {
        // The registry's lock order: the write lock, then the gate.
        lock (_writeLock)
        {
            lock (_gate)
            {
                if (_busy.Contains(name) || !_topics.TryGetValue(name, out Topic? topic))
                {
                    return false;
                }

                Unpublish(name);
                _detached[name] = topic;
                return true;
            }
        }
    }

    /// <summary>Deletes a detached topic's record and data (the cluster created a topic of its name). </summary>
    public ErrorCode DeleteDetached(string name, out string? message)
    {
        message = null;
        lock (_writeLock)
        {
            if (!_detached.TryRemove(name, out Topic? topic))
            {
                return ErrorCode.UnknownTopicOrPartition;
            }

            Publish(topic); // Delete works on published topics only; the tombstone follows at once
        }

        return Delete(name, out message);
    }
}
