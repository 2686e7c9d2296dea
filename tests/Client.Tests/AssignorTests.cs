using FsCheck.Xunit;
using LogBroker.Client.Consumer;

namespace LogBroker.Client.Tests;

public sealed class AssignorTests
{
    private static readonly RangeAssignor Range = new();
    private static readonly RoundRobinAssignor RoundRobin = new();
    private static readonly CooperativeStickyAssignor Sticky = new();

    // ---- Exact cases -------------------------------------------------------------------------------

    [Fact]
    public void Assignors_are_found_by_strategy()
    {
        Assert.Equal("range", Assignors.For(PartitionAssignmentStrategy.Range).Name);
        Assert.Equal("roundrobin", Assignors.For(PartitionAssignmentStrategy.RoundRobin).Name);
        Assert.Equal("cooperative-sticky", Assignors.For(PartitionAssignmentStrategy.CooperativeSticky).Name);
        Assert.False(Assignors.For(PartitionAssignmentStrategy.Range).IsCooperative);
        Assert.False(Assignors.For(PartitionAssignmentStrategy.RoundRobin).IsCooperative);
        Assert.True(Assignors.For(PartitionAssignmentStrategy.CooperativeSticky).IsCooperative);
        Assert.Throws<ArgumentOutOfRangeException>(() => Assignors.For((PartitionAssignmentStrategy)42));
    }

    [Fact]
    public void Range_matches_the_java_documentation_example()
    {
        // RangeAssignor's javadoc: C0, C1 subscribe to t0 and t1, each with 3 partitions.
        var result = Range.Assign(
            [Member("C0", ["t0", "t1"]), Member("C1", ["t0", "t1"])],
            Counts(("t0", 3), ("t1", 3)));
        Assert.Equal("C0: t0-0 t0-1 t1-0 t1-1 | C1: t0-2 t1-2", Format(result));
    }

    [Fact]
    public void RoundRobin_matches_the_java_documentation_examples()
    {
        // RoundRobinAssignor's javadoc, identical subscriptions.
        var identical = RoundRobin.Assign(
            [Member("C0", ["t0", "t1"]), Member("C1", ["t0", "t1"])],
            Counts(("t0", 3), ("t1", 3)));
        Assert.Equal("C0: t0-0 t0-2 t1-1 | C1: t0-1 t1-0 t1-2", Format(identical));

        // And differing ones: C0 [t0], C1 [t0, t1], C2 [t0, t1, t2]; t0, t1, t2 have 1, 2, 3 partitions.
        var differing = RoundRobin.Assign(
            [Member("C0", ["t0"]), Member("C1", ["t0", "t1"]), Member("C2", ["t0", "t1", "t2"])],
            Counts(("t0", 1), ("t1", 2), ("t2", 3)));
        Assert.Equal("C0: t0-0 | C1: t1-0 | C2: t1-1 t2-0 t2-1 t2-2", Format(differing));
    }

    [Fact]
    public void Range_gives_the_extra_partitions_to_the_first_members()
    {
        var result = Range.Assign(
            [Member("c", ["t"]), Member("a", ["t"]), Member("b", ["t"])],
            Counts(("t", 7)));
        Assert.Equal("a: t-0 t-1 t-2 | b: t-3 t-4 | c: t-5 t-6", Format(result));
    }

    [Fact]
    public void Range_splits_each_topic_over_its_own_subscribers()
    {
        var result = Range.Assign(
            [Member("a", ["x"]), Member("b", ["x", "y"]), Member("c", ["y"])],
            Counts(("x", 3), ("y", 4)));
        Assert.Equal("a: x-0 x-1 | b: x-2 y-0 y-1 | c: y-2 y-3", Format(result));
    }

    [Fact]
    public void Static_members_come_first_ordered_by_group_instance_id_as_in_java()
    {
        AssignorMember[] members =
        [
            Member("a", ["t"], instanceId: "z"),
            Member("b", ["t"]),
            Member("c", ["t"], instanceId: "y"),
        ];
        Assert.Equal("a: t-1 | b: t-2 | c: t-0", Format(Range.Assign(members, Counts(("t", 3)))));
        Assert.Equal("a: t-1 t-4 | b: t-2 | c: t-0 t-3", Format(RoundRobin.Assign(members, Counts(("t", 5)))));
    }

    [Fact]
    public void Topics_absent_from_metadata_are_ignored_and_every_member_has_an_entry()
    {
        AssignorMember[] members = [Member("a", ["t", "gone"]), Member("b", ["gone"]), Member("c", [])];
        var counts = Counts(("t", 2), ("unsubscribed", 5));
        foreach (IPartitionAssignor assignor in new IPartitionAssignor[] { Range, RoundRobin, Sticky })
        {
            Assert.Equal("a: t-0 t-1 | b: | c:", Format(assignor.Assign(members, counts)));
        }
    }

    [Fact]
    public void No_members_gives_an_empty_assignment()
    {
        foreach (IPartitionAssignor assignor in new IPartitionAssignor[] { Range, RoundRobin, Sticky })
        {
            Assert.Empty(assignor.Assign([], Counts(("t", 3))));
        }
    }

    [Fact]
    public void Sticky_assigns_a_fresh_group_evenly()
    {
        var result = Sticky.Assign(
            [Member("c1", ["t"]), Member("c0", ["t"]), Member("c2", ["t"])],
            Counts(("t", 7)));
        Assert.Equal("c0: t-0 t-3 t-6 | c1: t-1 t-4 | c2: t-2 t-5", Format(result));
    }

    [Fact]
    public void Sticky_withholds_partitions_that_move_until_their_owner_has_revoked_them()
    {
        var counts = Counts(("t", 4));
        var first = Sticky.Assign(
            [Member("c0", ["t"], owned: [P("t", 0), P("t", 1), P("t", 2), P("t", 3)], generation: 1), Member("c1", ["t"])],
            counts);
        Assert.Equal("c0: t-0 t-1 | c1:", Format(first));

        // c0 revoked t-2 and t-3; the follow-up rebalance gives them to c1.
        var second = Sticky.Assign(
            [Member("c0", ["t"], owned: first["c0"], generation: 2), Member("c1", ["t"], owned: first["c1"], generation: 2)],
            counts);
        Assert.Equal("c0: t-0 t-1 | c1: t-2 t-3", Format(second));
    }

    [Fact]
    public void Sticky_keeps_owned_partitions_where_balance_allows()
    {
        var result = Sticky.Assign(
            [
                Member("a", ["t"], owned: [P("t", 4), P("t", 5)], generation: 7),
                Member("b", ["t"], owned: [P("t", 0)], generation: 7),
                Member("c", ["t"], owned: [], generation: 7),
            ],
            Counts(("t", 6)));
        Assert.Equal("a: t-4 t-5 | b: t-0 t-1 | c: t-2 t-3", Format(result));
    }

    [Fact]
    public void Sticky_trusts_only_the_highest_generation_claim()
    {
        // a and b both claim t-0; b's generation is older, so a keeps it and b's claim is ignored.
        var result = Sticky.Assign(
            [
                Member("a", ["t"], owned: [P("t", 0)], generation: 3),
                Member("b", ["t"], owned: [P("t", 0), P("t", 1)], generation: 2),
            ],
            Counts(("t", 2)));
        Assert.Equal("a: t-0 | b: t-1", Format(result));
    }

    [Fact]
    public void Sticky_withholds_a_partition_claimed_twice_in_the_same_generation()
    {
        var result = Sticky.Assign(
            [
                Member("a", ["t"], owned: [P("t", 0)], generation: 3),
                Member("b", ["t"], owned: [P("t", 0)], generation: 3),
            ],
            Counts(("t", 2)));
        Assert.Equal("a: | b: t-1", Format(result));
    }

    [Fact]
    public void Sticky_withholds_a_partition_whose_owner_unsubscribed_from_its_topic()
    {
        var result = Sticky.Assign(
            [
                Member("a", ["u"], owned: [P("t", 0), P("t", 1)], generation: 1),
                Member("b", ["t"], owned: [], generation: 1),
            ],
            Counts(("t", 2), ("u", 1)));
        Assert.Equal("a: u-0 | b:", Format(result));
    }

    [Fact]
    public void Sticky_balances_members_with_differing_subscriptions()
    {
        // a alone can take x; y is shared, so b and c split it and a gets none of it.
        var result = Sticky.Assign(
            [Member("a", ["x", "y"]), Member("b", ["y"]), Member("c", ["y"])],
            Counts(("x", 4), ("y", 4)));
        Assert.Equal("a: x-0 x-1 x-2 x-3 | b: y-0 y-2 | c: y-1 y-3", Format(result));
    }

    // ---- Properties -------------------------------------------------------------------------------

    [Property(MaxTest = 300)]
    public void Range_assigns_every_partition_once_and_evenly_per_topic(int seed)
    {
        var scenario = Scenario.Random(seed, withOwnership: false);
        var result = Range.Assign(scenario.Members, scenario.Counts);
        AssertComplete(scenario, result);
        foreach ((string topic, _) in scenario.Counts)
        {
            var counts = scenario.Members
                .Where(m => m.Topics.Contains(topic))
                .Select(m => result[m.MemberId].Count(p => p.Topic == topic))
                .ToList();
            if (counts.Count > 0)
            {
                Assert.True(counts.Max() - counts.Min() <= 1, $"uneven {topic}: {string.Join(",", counts)}");
            }
        }
    }

    [Property(MaxTest = 300)]
    public void RoundRobin_assigns_every_partition_once(int seed)
    {
        var scenario = Scenario.Random(seed, withOwnership: false);
        AssertComplete(scenario, RoundRobin.Assign(scenario.Members, scenario.Counts));
    }

    [Property(MaxTest = 300)]
    public void RoundRobin_is_even_for_identical_subscriptions(int seed)
    {
        var scenario = Scenario.Random(seed, withOwnership: false, identicalSubscriptions: true);
        var result = RoundRobin.Assign(scenario.Members, scenario.Counts);
        AssertComplete(scenario, result);
        AssertBalanced(result);
    }

    [Property(MaxTest = 300)]
    public void Assignments_do_not_depend_on_the_order_of_the_members(int seed)
    {
        var scenario = Scenario.Random(seed, withOwnership: true);
        var shuffled = scenario.Members.ToArray();
        new Random(seed).Shuffle(shuffled);
        foreach (IPartitionAssignor assignor in new IPartitionAssignor[] { Range, RoundRobin, Sticky })
        {
            string expected = Format(assignor.Assign(scenario.Members, scenario.Counts));
            Assert.Equal(expected, Format(assignor.Assign(scenario.Members, scenario.Counts)));
            Assert.Equal(expected, Format(assignor.Assign(shuffled, scenario.Counts)));
        }
    }

    [Property(MaxTest = 500)]
    public void Sticky_assigns_each_partition_once_and_withholds_only_partitions_another_member_owns(int seed)
    {
        var scenario = Scenario.Random(seed, withOwnership: true);
        var result = Sticky.Assign(scenario.Members, scenario.Counts);
        var claims = MaxGenerationClaims(scenario.Members);
        var withheld = AssertExclusive(scenario, result);
        foreach (TopicPartition partition in withheld)
        {
            Assert.True(claims.ContainsKey(partition), $"{partition} withheld without a current owner");
        }

        foreach ((string memberId, List<TopicPartition> partitions) in result)
        {
            foreach (TopicPartition partition in partitions)
            {
                Assert.True(
                    !claims.TryGetValue(partition, out var owners) || owners.SetEquals([memberId]),
                    $"{partition} given to {memberId} while another member owns it");
            }
        }
    }

    [Property(MaxTest = 500)]
    public void Sticky_with_identical_subscriptions_is_balanced_and_keeps_all_that_balance_allows(int seed)
    {
        var scenario = Scenario.Random(seed, withOwnership: true, identicalSubscriptions: true);
        var result = Sticky.Assign(scenario.Members, scenario.Counts);
        AssertExclusive(scenario, result);

        int total = scenario.AllPartitions().Count;
        int memberCount = scenario.Members.Length;
        int minQuota = total / memberCount;
        int maxQuotaSlots = total % memberCount;
        Assert.All(result.Values, partitions => Assert.True(partitions.Count <= minQuota + (maxQuotaSlots > 0 ? 1 : 0)));

        // The most any balanced assignment can keep: each member its owned partitions up to the minimum
        // quota, plus one more for as many members as may have the maximum.
        var valid = ValidOwned(scenario);
        int bestKept = valid.Values.Sum(owned => Math.Min(owned.Count, minQuota))
            + Math.Min(maxQuotaSlots, valid.Values.Count(owned => owned.Count > minQuota));
        int kept = result.Sum(entry => entry.Value.Count(valid[entry.Key].Contains));
        Assert.Equal(bestKept, kept);

        // The follow-up rebalance hands out what was withheld, moves nothing else, and ends balanced.
        var second = Sticky.Assign(NextRound(scenario.Members, result), scenario.Counts);
        AssertComplete(scenario, second);
        AssertBalanced(second);
        foreach ((string memberId, List<TopicPartition> partitions) in result)
        {
            Assert.Superset(partitions.ToHashSet(), second[memberId].ToHashSet());
        }
    }

    [Property(MaxTest = 300)]
    public void Sticky_moves_only_what_balance_needs_when_a_member_joins_a_balanced_group(int seed)
    {
        var random = new Random(seed);
        int memberCount = random.Next(1, 8);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        int topicCount = random.Next(1, 4);
        for (int t = 0; t < topicCount; t++)
        {
            counts[$"t{t}"] = random.Next(0, 13);
        }

        string[] topics = [.. counts.Keys];
        var members = Enumerable.Range(0, memberCount)
            .Select(i => Member($"m{random.Next(1000):D3}-{i}", topics))
            .ToArray();

        // A balanced, settled group: two rounds from scratch (the first withholds nothing).
        var settled = Sticky.Assign(members, counts);
        settled = Sticky.Assign(NextRound(members, settled, generation: 1), counts);
        AssertBalanced(settled);
        Assert.Equal(counts.Values.Sum(), settled.Values.Sum(p => p.Count));

        var joiner = Member("joiner", topics);
        var grown = NextRound(members, settled, generation: 2).Append(joiner).ToArray();
        var first = Sticky.Assign(grown, counts);

        int total = counts.Values.Sum();
        int quota = total / (memberCount + 1);
        int extraSlots = total % (memberCount + 1);

        // Old members only lose partitions, each down to a balanced share; the joiner gets nothing yet.
        int moved = 0;
        int atMax = 0;
        foreach (AssignorMember member in members)
        {
            var before = settled[member.MemberId];
            var after = first[member.MemberId];
            Assert.Subset(before.ToHashSet(), after.ToHashSet());
            Assert.Equal(Math.Min(before.Count, quota + (after.Count > quota ? 1 : 0)), after.Count);
            moved += before.Count - after.Count;
            atMax += after.Count > quota ? 1 : 0;
        }

        Assert.Empty(first["joiner"]);
        Assert.True(atMax <= extraSlots);

        // Exactly as many partitions move as the fewest any balanced assignment needs.
        int minimumMoves = total
            - members.Sum(m => Math.Min(settled[m.MemberId].Count, quota))
            - Math.Min(extraSlots, members.Count(m => settled[m.MemberId].Count > quota));
        Assert.Equal(minimumMoves, moved);

        // The follow-up rebalance gives the withheld partitions out, and nothing else changes owner.
        var second = Sticky.Assign(NextRound(grown, first, generation: 3), counts);
        var scenario = new Scenario(grown, counts);
        AssertComplete(scenario, second);
        AssertBalanced(second);
        foreach (AssignorMember member in grown)
        {
            Assert.Superset(first[member.MemberId].ToHashSet(), second[member.MemberId].ToHashSet());
        }

        var withheld = settled.Values.SelectMany(p => p).Except(first.Values.SelectMany(p => p)).ToHashSet();
        foreach (AssignorMember member in members)
        {
            foreach (TopicPartition partition in second[member.MemberId].Except(settled[member.MemberId]))
            {
                Assert.Contains(partition, withheld);
            }
        }
    }

    [Property(MaxTest = 300)]
    public void Sticky_with_differing_subscriptions_settles_within_a_few_rounds(int seed)
    {
        var scenario = Scenario.Random(seed, withOwnership: true);
        var members = scenario.Members;
        var result = Sticky.Assign(members, scenario.Counts);
        for (int round = 0; round < 4 && result.Values.Sum(p => p.Count) < scenario.AllPartitions().Count; round++)
        {
            members = NextRound(members, result);
            var next = Sticky.Assign(members, scenario.Counts);

            // A partition only changes owner after a round that withheld it.
            foreach (AssignorMember member in members)
            {
                foreach (TopicPartition partition in next[member.MemberId].Except(result[member.MemberId]))
                {
                    Assert.DoesNotContain(result.Where(e => e.Key != member.MemberId), e => e.Value.Contains(partition));
                }
            }

            result = next;
        }

        AssertComplete(new Scenario(members, scenario.Counts), result);

        // Members with identical subscriptions differ by at most one partition.
        foreach (var group in members.GroupBy(m => SubscriptionKey(m, scenario.Counts)))
        {
            var sizes = group.Select(m => result[m.MemberId].Count).ToList();
            Assert.True(sizes.Max() - sizes.Min() <= 1, $"uneven group {group.Key}: {string.Join(",", sizes)}");
        }
    }

    // ---- Helpers ----------------------------------------------------------------------------------

    private static AssignorMember Member(
        string id,
        IReadOnlyList<string> topics,
        IReadOnlyList<TopicPartition>? owned = null,
        int generation = -1,
        string? instanceId = null) =>
        new(id, instanceId, topics, owned ?? [], generation);

    private static TopicPartition P(string topic, int partition) => new(topic, partition);

    private static Dictionary<string, int> Counts(params (string Topic, int Count)[] counts) =>
        counts.ToDictionary(c => c.Topic, c => c.Count, StringComparer.Ordinal);

    private static string Format(Dictionary<string, List<TopicPartition>> assignment) =>
        string.Join(" | ", assignment
            .OrderBy(e => e.Key, StringComparer.Ordinal)
            .Select(e => (e.Key + ": " + string.Join(" ", e.Value)).TrimEnd()));

    private static string SubscriptionKey(AssignorMember member, Dictionary<string, int> counts) =>
        string.Join(",", member.Topics.Where(t => counts.TryGetValue(t, out int n) && n > 0).Distinct().Order(StringComparer.Ordinal));

    private static AssignorMember[] NextRound(IEnumerable<AssignorMember> members, Dictionary<string, List<TopicPartition>> assignment, int? generation = null)
    {
        var list = members.ToList();
        int next = generation ?? list.Max(m => m.Generation) + 1;
        return [.. list.Select(m => m with { OwnedPartitions = [.. assignment[m.MemberId]], Generation = next })];
    }

    /// <summary>The partitions claimed at the highest generation, with their claimants.</summary>
    private static Dictionary<TopicPartition, HashSet<string>> MaxGenerationClaims(AssignorMember[] members)
    {
        var claims = new Dictionary<TopicPartition, HashSet<string>>();
        if (members.Length == 0)
        {
            return claims;
        }

        int max = members.Max(m => m.Generation);
        foreach (AssignorMember member in members.Where(m => m.Generation == max))
        {
            foreach (TopicPartition partition in member.OwnedPartitions)
            {
                if (!claims.TryGetValue(partition, out var owners))
                {
                    claims[partition] = owners = new HashSet<string>(StringComparer.Ordinal);
                }

                owners.Add(member.MemberId);
            }
        }

        return claims;
    }

    /// <summary>What each member may keep: its sole highest-generation claims on existing subscribed partitions.</summary>
    private static Dictionary<string, HashSet<TopicPartition>> ValidOwned(Scenario scenario)
    {
        var claims = MaxGenerationClaims(scenario.Members);
        return scenario.Members.ToDictionary(
            m => m.MemberId,
            m => m.OwnedPartitions
                .Where(p => claims.TryGetValue(p, out var owners) && owners.SetEquals([m.MemberId])
                    && m.Topics.Contains(p.Topic)
                    && scenario.Counts.TryGetValue(p.Topic, out int n) && p.Partition >= 0 && p.Partition < n)
                .ToHashSet(),
            StringComparer.Ordinal);
    }

    private static void AssertBalanced(Dictionary<string, List<TopicPartition>> assignment)
    {
        if (assignment.Count > 0)
        {
            var sizes = assignment.Values.Select(p => p.Count).ToList();
            Assert.True(sizes.Max() - sizes.Min() <= 1, $"unbalanced: {string.Join(",", sizes)}");
        }
    }

    /// <summary>Every member has an entry, only subscribed existing partitions are given, none twice; returns the unassigned ones.</summary>
    private static HashSet<TopicPartition> AssertExclusive(Scenario scenario, Dictionary<string, List<TopicPartition>> assignment)
    {
        Assert.Equal(
            scenario.Members.Select(m => m.MemberId).Order(StringComparer.Ordinal),
            assignment.Keys.Order(StringComparer.Ordinal));
        var all = scenario.AllPartitions();
        var seen = new HashSet<TopicPartition>();
        foreach (AssignorMember member in scenario.Members)
        {
            foreach (TopicPartition partition in assignment[member.MemberId])
            {
                Assert.Contains(partition.Topic, member.Topics);
                Assert.Contains(partition, all);
                Assert.True(seen.Add(partition), $"{partition} assigned twice");
            }
        }

        all.ExceptWith(seen);
        return all;
    }

    private static void AssertComplete(Scenario scenario, Dictionary<string, List<TopicPartition>> assignment) =>
        Assert.Empty(AssertExclusive(scenario, assignment));

    private sealed record Scenario(AssignorMember[] Members, Dictionary<string, int> Counts)
    {
        /// <summary>Every partition of a topic some member subscribes to.</summary>
        public HashSet<TopicPartition> AllPartitions() =>
            Members.SelectMany(m => m.Topics).Distinct()
                .Where(Counts.ContainsKey)
                .SelectMany(t => Enumerable.Range(0, Counts[t]).Select(p => new TopicPartition(t, p)))
                .ToHashSet();

        public static Scenario Random(int seed, bool withOwnership, bool identicalSubscriptions = false)
        {
            var random = new Random(seed);
            var counts = new Dictionary<string, int>(StringComparer.Ordinal);
            int topicCount = random.Next(1, 6);
            for (int t = 0; t < topicCount; t++)
            {
                counts[$"t{t}"] = random.Next(0, 12);
            }

            // Topics members may name: the known ones and two that metadata does not have.
            string[] names = [.. counts.Keys, "missing-a", "missing-b"];
            string[] shared = Subset(random, names);
            int memberCount = random.Next(1, 9);
            var members = new AssignorMember[memberCount];
            for (int i = 0; i < memberCount; i++)
            {
                string[] topics = identicalSubscriptions ? shared : Subset(random, names);
                var owned = new List<TopicPartition>();
                int generation = -1;
                if (withOwnership)
                {
                    generation = random.Next(-1, 3);
                    int claims = random.Next(0, 8);
                    for (int c = 0; c < claims; c++)
                    {
                        string topic = names[random.Next(names.Length)];
                        owned.Add(new TopicPartition(topic, random.Next(-1, 12)));
                    }
                }

                string? instanceId = random.Next(4) == 0 ? $"static-{random.Next(100)}-{i}" : null;
                members[i] = new AssignorMember($"member-{random.Next(100):D2}-{i}", instanceId, topics, owned, generation);
            }

            return new Scenario(members, counts);
        }

        private static string[] Subset(Random random, string[] names) =>
            [.. names.Where(_ => random.Next(3) > 0)];
    }
}
