using System.Text;
using System.Text.RegularExpressions;
using LogBroker.Protocol;

namespace LogBroker.Broker.Groups;

/// <summary>
/// A server-side (KIP-848) consumer group's state, hung on its id's <see cref="GroupEntry"/> while it
/// has members and guarded by that entry's lock, so one lock decides which protocol owns a group id,
/// and an offset commit is checked and stored under the same lock that fences members.
/// </summary>
internal sealed class ConsumerGroup(GroupEntry entry) : IGroupProtocol
{
    public string Id => Entry.Id;

    /// <summary>The id's entry: its lock and committed offsets.</summary>
    public GroupEntry Entry { get; } = entry;

    public Lock Sync => Entry.Sync;

    public int GroupEpoch { get; set; }

    public int AssignmentEpoch { get; set; }

    public Dictionary<string, ConsumerMember> Members { get; } = new(StringComparer.Ordinal);

    /// <summary>Bumped whenever a member joins, leaves or changes its subscription: invalidates <see cref="TopicMatches"/>.</summary>
    public int SubscriptionVersion { get; set; }

    /// <summary>Topic name → whether some member subscribes to it, valid for <see cref="TopicMatchesVersion"/>.</summary>
    public Dictionary<string, bool> TopicMatches { get; } = new(StringComparer.Ordinal);

    public int TopicMatchesVersion { get; set; } = -1;

    /// <summary>The subscribed topics as last seen (id and partition count): a change bumps the group epoch.</summary>
    public Dictionary<string, (Guid Id, int Partitions)> SubscribedMetadata { get; } = new(StringComparer.Ordinal);

    /// <summary>Kafka's state names: Empty, Assigning, Reconciling, Stable.</summary>
    public string State =>
        Members.Count == 0 ? "Empty"
        : AssignmentEpoch < GroupEpoch ? "Assigning"
        : Members.Values.All(m => m.Epoch == AssignmentEpoch && m.PendingRevocation.Count == 0 && m.Assigned.SetEquals(m.Target)) ? "Stable"
        : "Reconciling";

    public bool HasMembers => Members.Count > 0;

    public (string State, string ProtocolType, string Type) Listing => (State, "consumer", "consumer");

    public void AddSubscribedTopics(HashSet<string> topics) => topics.UnionWith(SubscribedMetadata.Keys);

    /// <summary>Whether <paramref name="memberId"/> at <paramref name="memberEpoch"/> may commit offsets now (call under <see cref="Sync"/>).</summary>
    public ErrorCode CheckCommit(string memberId, string? instanceId, int memberEpoch, long now)
    {
        if (memberId.Length == 0 && memberEpoch < 0 && Members.Count == 0)
        {
            return ErrorCode.None; // an admin resetting offsets of an empty group
        }

        if (!Members.TryGetValue(memberId, out ConsumerMember? member))
        {
            return ErrorCode.UnknownMemberId;
        }

        return memberEpoch != member.Epoch ? ErrorCode.StaleMemberEpoch : ErrorCode.None;
    }
}

/// <summary>One member of a <see cref="ConsumerGroup"/>.</summary>
internal sealed class ConsumerMember(string id)
{
    public string Id { get; } = id;

    public string? InstanceId { get; set; }

    public string? RackId { get; set; }

    public string ClientId { get; set; } = "";

    public string ClientHost { get; set; } = "";

    public string? Assignor { get; set; }

    public int Epoch { get; set; }

    public int PreviousEpoch { get; set; } = -1;

    public List<string> SubscribedNames { get; set; } = [];

    public HashSet<string> SubscribedNameSet { get; set; } = new(StringComparer.Ordinal);

    public string? SubscribedRegex { get; set; }

    /// <summary><see cref="SubscribedRegex"/> compiled once, when the member set it (<see cref="TopicRegex"/>).</summary>
    public Regex? CompiledRegex { get; set; }

    public HashSet<(Guid Topic, int Partition)> Target { get; } = [];

    public HashSet<(Guid Topic, int Partition)> Assigned { get; } = [];

    public HashSet<(Guid Topic, int Partition)> PendingRevocation { get; } = [];

    public HashSet<(Guid Topic, int Partition)> Owned { get; set; } = [];

    public string? SentAssignment { get; set; }

    public long LastSeen { get; set; }

    /// <summary>A new incarnation of this static member under <paramref name="id"/>: the same subscription, epoch, target and partitions.</summary>
    public ConsumerMember Replaced(string id)
    {
        var next = new ConsumerMember(id)
        {
            InstanceId = InstanceId,
            RackId = RackId,
            Assignor = Assignor,
            Epoch = Epoch,
            PreviousEpoch = PreviousEpoch,
            SubscribedNames = SubscribedNames,
            SubscribedNameSet = SubscribedNameSet,
            SubscribedRegex = SubscribedRegex,
            CompiledRegex = CompiledRegex,
        };
        next.Target.UnionWith(Target);
        next.Assigned.UnionWith(Assigned);
        next.PendingRevocation.UnionWith(PendingRevocation);
        return next;
    }
}

/// <summary>
/// KIP-848 <c>subscribed_topic_regex</c>: compiled with the linear-time engine
/// (<see cref="RegexOptions.NonBacktracking"/>, like Kafka's RE2J) and a match timeout, matched against
/// whole topic names. Patterns the engine cannot run in linear time (backreferences, lookarounds) are
/// refused, as RE2J refuses them.
/// </summary>
internal static class TopicRegex
{
    /// <summary>Longest pattern accepted, in UTF-16 characters.</summary>
    public const int MaxPatternLength = 4096;

    /// <summary>Match timeout: a linear-time match of a topic name (at most 249 characters) takes microseconds.</summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(100);

    public static bool TryCompile(string pattern, out Regex? regex, out string? error)
    {
        regex = null;
        if (pattern.Length > MaxPatternLength)
        {
            error = $"The regular expression is longer than {MaxPatternLength} characters.";
            return false;
        }

        try
        {
            // Alone first, so that a pattern like "a)|(b" cannot escape the anchoring group below.
            _ = new Regex(pattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant, MatchTimeout);
            regex = new Regex(@"\A(?:" + pattern + @")\z", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant, MatchTimeout);
            error = null;
            return true;
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            error = "Invalid regular expression: " + e.Message;
            return false;
        }
    }
}

/// <summary>
/// Bounds on identifiers accepted from the wire. Every one of them may be echoed later in a
/// non-flexible response (a STRING: at most 32767 bytes), and the offset log stores them with a 16-bit
/// length, so anything longer is refused when it arrives rather than failing at write time.
/// </summary>
internal static class GroupLimits
{
    /// <summary>Longest group id, member id, instance id or protocol name, in UTF-8 bytes (what a STRING can hold).</summary>
    public const int MaxIdBytes = short.MaxValue;

    /// <summary>Characters of the client id kept in a generated member id (Kafka: client id + "-" + UUID).</summary>
    public const int MaxClientIdInMemberId = 255;

    /// <summary>True when <paramref name="text"/> is null or fits in <paramref name="maxBytes"/> UTF-8 bytes.</summary>
    public static bool Fits(string? text, int maxBytes = MaxIdBytes) =>
        text is null || text.Length <= maxBytes / 3 || (text.Length <= maxBytes && Encoding.UTF8.GetByteCount(text) <= maxBytes);

    /// <summary>The client-id part of a generated member id: at most <see cref="MaxClientIdInMemberId"/> characters, never a split surrogate pair.</summary>
    public static string MemberIdPrefix(string clientId)
    {
        if (clientId.Length == 0)
        {
            return "member";
        }

        if (clientId.Length <= MaxClientIdInMemberId)
        {
            return clientId;
        }

        int length = MaxClientIdInMemberId;
        if (char.IsHighSurrogate(clientId[length - 1]))
        {
            length--;
        }

        return clientId[..length];
    }
}
