using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Groups;

/// <summary>The classic protocol's answer to a static member (KIP-345) that comes back while its group is Stable.</summary>
internal static class StaticMembership
{
    /// <summary>
    /// KIP-345: a static member back (under a new member id) while the group is Stable, with the
    /// group's protocol, takes its old incarnation's place and assignment with no rebalance: the other
    /// members are not disturbed. It is answered at once with the current generation and, as Kafka
    /// does, the leader id from before the replacement, so that even a returning leader does not
    /// compute an assignment a stable group would not hand out; its SyncGroup returns its assignment.
    /// From JoinGroup v9 (KIP-814) a returning leader is told it leads, with the members, but with
    /// <c>skip_assignment</c> set: it keeps watching metadata without running its assignor.
    /// </summary>
    public static JoinGroupResponse Rejoin(ClassicGroup group, GroupMember member, string? previousLeader, short version)
    {
        var response = new JoinGroupResponse
        {
            GenerationId = group.Generation,
            ProtocolType = group.ProtocolType,
            ProtocolName = group.ProtocolName,
            Leader = previousLeader ?? member.Id,
            MemberId = member.Id,
        };
        if (version >= 9 && group.LeaderId == member.Id)
        {
            response.Leader = member.Id;
            response.SkipAssignment = true;
            foreach (GroupMember m in group.Members.Values)
            {
                response.Members.Add(new JoinGroupResponse.JoinGroupResponseMember
                {
                    MemberId = m.Id,
                    GroupInstanceId = m.InstanceId,
                    Metadata = m.MetadataFor(group.ProtocolName!) ?? [],
                });
            }
        }

        return response;
    }
}
