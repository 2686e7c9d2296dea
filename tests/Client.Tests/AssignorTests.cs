using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LogBroker.Client.Consumer;

namespace LogBroker.Client.Tests;

public sealed class AssignorTests
{
    private static AssignorMember Member(string id, params string[] topics) => new(id, null, topics, [], -1);

    private static string Show(List<TopicPartition> partitions) => string.Join(",", partitions.Select(p => $"{p.Topic}p{p.Partition}"));

    [Fact]
    public void Range_gives_consecutive_partitions_per_topic_as_the_Java_client_documents()
    {
        Dictionary<string, List<TopicPartition>> a = new RangeAssignor().Assign([Member("C1", "t0", "t1"), Member("C0", "t0", "t1")], new Dictionary<string, int> { ["t0"] = 3, ["t1"] = 3 });
        Assert.Equal("t0p0,t0p1,t1p0,t1p1", Show(a["C0"]));
        Assert.Equal("t0p2,t1p2", Show(a["C1"]));
    }

    [Fact]
    public void Roundrobin_deals_all_partitions_in_turn_as_the_Java_client_documents()
    {
        Dictionary<string, List<TopicPartition>> a = new RoundRobinAssignor().Assign([Member("C0", "t0", "t1"), Member("C1", "t0", "t1")], new Dictionary<string, int> { ["t0"] = 3, ["t1"] = 3 });
        Assert.Equal("t0p0,t0p2,t1p1", Show(a["C0"]));
        Assert.Equal("t0p1,t1p0,t1p2", Show(a["C1"]));
    }

    [Fact]
    public void Topics_unknown_to_the_metadata_and_unsubscribed_topics_are_left_alone()
    {
        foreach (PartitionAssignmentStrategy s in Enum.GetValues<PartitionAssignmentStrategy>())
        {
            Dictionary<string, List<TopicPartition>> a = Assignors.For(s).Assign([Member("A", "t0", "missing"), Member("B", "t1")], new Dictionary<string, int> { ["t0"] = 2, ["t1"] = 2 });
            Assert.All(a["A"], p => Assert.Equal("t0", p.Topic));
            Assert.All(a["B"], p => Assert.Equal("t1", p.Topic));
            Assert.Equal(4, a["A"].Count + a["B"].Count);
        }
    }

    private static Arbitrary<(int Members, int[] Partitions, int Seed)> Groups() =>
        Gen.Choose(1, 8).SelectMany(members => Gen.Choose(1, 4).SelectMany(topics =>
            Gen.ArrayOf(Gen.Choose(0, 12), topics).SelectMany(partitions => Gen.Choose(0, 1000).Select(seed => (members, partitions, seed))))).ToArbitrary();

    private static (List<AssignorMember> Members, Dictionary<string, int> Counts) Build(int members, int[] partitions, int seed, bool identical)
    {
        var random = new Random(seed);
        var counts = new Dictionary<string, int>();
        for (int t = 0; t < partitions.Length; t++)
        {
            counts["t" + t] = partitions[t];
        }

        var list = new List<AssignorMember>();
        for (int m = 0; m < members; m++)
        {
            string[] topics = identical ? [.. counts.Keys] : [.. counts.Keys.Where(_ => random.Next(3) > 0)];
            list.Add(Member("m" + random.Next(1000) + "-" + m, topics));
        }

        return (list, counts);
    }

    [Property(MaxTest = 300)]
    public Property Every_subscribed_partition_goes_to_exactly_one_subscriber() => Prop.ForAll(Groups(), g =>
    {
        (List<AssignorMember> members, Dictionary<string, int> counts) = Build(g.Members, g.Partitions, g.Seed, identical: false);
        foreach (PartitionAssignmentStrategy s in Enum.GetValues<PartitionAssignmentStrategy>())
        {
            Dictionary<string, List<TopicPartition>> a = Assignors.For(s).Assign(members, counts);
            Assert.Equal(members.Select(m => m.MemberId).Order(), a.Keys.Order());
            List<TopicPartition> all = [.. a.Values.SelectMany(v => v)];
            Assert.Equal(all.Count, all.Distinct().Count());
            var expected = members.SelectMany(m => m.Topics).Distinct().SelectMany(t => Enumerable.Range(0, counts[t]).Select(p => new TopicPartition(t, p))).ToHashSet();
            Assert.True(expected.SetEquals(all), $"{s}: every partition assigned");
            foreach (AssignorMember m in members)
            {
                Assert.All(a[m.MemberId], p => Assert.Contains(p.Topic, m.Topics));
            }
        }
    });

    [Property(MaxTest = 300)]
    public Property Cooperative_sticky_is_balanced_and_converges_without_moving_an_owned_partition_unannounced() => Prop.ForAll(Groups(), g =>
    {
        (List<AssignorMember> members, Dictionary<string, int> counts) = Build(g.Members, g.Partitions, g.Seed, identical: true);
        var assignor = new CooperativeStickyAssignor();
        int total = counts.Values.Sum();

        // A balanced group of all but the last member, then the last one joins.
        List<AssignorMember> before = members.Take(Math.Max(1, members.Count - 1)).ToList();
        Dictionary<string, List<TopicPartition>> first = assignor.Assign(before, counts);
        Balanced(first, total);

        List<AssignorMember> joined = [.. before.Select(m => m with { OwnedPartitions = first[m.MemberId], Generation = 1 })];
        if (members.Count > before.Count)
        {
            joined.Add(members[^1]);
        }

        Dictionary<string, List<TopicPartition>> second = assignor.Assign(joined, counts);
        foreach (AssignorMember m in joined)
        {
            // Round two: nobody receives a partition someone else still owns.
            foreach (TopicPartition p in second[m.MemberId])
            {
                Assert.True(m.OwnedPartitions.Contains(p) || joined.All(o => !o.OwnedPartitions.Contains(p)), $"{p} handed over before being revoked");
            }

            // Stickiness: a member keeps all it owned up to its fair share.
            int kept = second[m.MemberId].Count(m.OwnedPartitions.Contains);
            Assert.True(kept >= Math.Min(m.OwnedPartitions.Count, total / joined.Count), "kept its partitions up to the fair share");
        }

        // Round three: owners revoked what they lost; the withheld partitions are handed out, balanced and complete.
        List<AssignorMember> revoked = [.. joined.Select(m => m with { OwnedPartitions = second[m.MemberId], Generation = 2 })];
        Dictionary<string, List<TopicPartition>> third = assignor.Assign(revoked, counts);
        Assert.Equal(total, third.Values.Sum(v => v.Count));
        Balanced(third, total);
        foreach (AssignorMember m in revoked)
        {
            Assert.True(m.OwnedPartitions.All(third[m.MemberId].Contains), "nothing moves once balanced");
        }
    });

    private static void Balanced(Dictionary<string, List<TopicPartition>> assignment, int total)
    {
        Assert.Equal(total, assignment.Values.Sum(v => v.Count));
        Assert.True(assignment.Values.Max(v => v.Count) - assignment.Values.Min(v => v.Count) <= 1, "balanced");
    }
}
