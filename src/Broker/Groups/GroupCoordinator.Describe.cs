using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Groups;

/// <summary>DescribeGroups of classic groups.</summary>
internal sealed partial class GroupCoordinator
{
    /// <summary>
    /// DescribeGroups of one classic group: Dead with no error when unknown (as Kafka answers);
    /// GROUP_ID_NOT_FOUND when the id is a server-side group (use ConsumerGroupDescribe).
    /// </summary>
    public DescribeGroupsResponse.DescribedGroup Describe(string groupId)
    {
        var described = new DescribeGroupsResponse.DescribedGroup { GroupId = groupId, GroupState = nameof(GroupState.Dead) };
        if (_offsets.EnterExisting(groupId) is not { } entry)
        {
            return described;
        }

        try
        {
            if (entry.Owner is not ClassicGroup group)
            {
                if (entry.Owner is null)
                {
                    described.GroupState = nameof(GroupState.Empty); // only committed offsets
                }
                else
                {
                    described.ErrorCode = (short)ErrorCode.GroupIdNotFound;
                }

                return described;
            }

            described.GroupState = group.State.ToString();
            described.ProtocolType = group.ProtocolType ?? "";
            described.ProtocolData = group.State == GroupState.Stable || group.State == GroupState.CompletingRebalance ? group.ProtocolName ?? "" : "";
            foreach (GroupMember member in group.Members.Values)
            {
                described.Members.Add(new DescribeGroupsResponse.DescribedGroupMember
                {
                    MemberId = member.Id,
                    GroupInstanceId = member.InstanceId,
                    ClientId = member.ClientId,
                    ClientHost = member.ClientHost,
                    MemberMetadata = group.ProtocolName is { } p ? member.MetadataFor(p) ?? [] : [],
                    MemberAssignment = group.State == GroupState.Stable ? member.Assignment : [],
                });
            }
        }
        finally
        {
            entry.Sync.Exit();
        }

        return described;
    }
}
