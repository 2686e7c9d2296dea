using FsCheck;
using FsCheck.Xunit;
using LogBroker.Client.Producer;

namespace LogBroker.Client.Tests;

public sealed class Murmur2PartitionerTests
{
    /// <summary>
    /// Hashes computed by kafka-python 2.0.2's murmur2 (a port of the Java client's Utils.murmur2, the
    /// function behind its default partitioner), as unsigned 32-bit values.
    /// </summary>
    public static TheoryData<string, uint> Vectors { get; } = new()
    {
        { "", 275646681u },
        { "61", 2731586172u },
        { "6162", 316155434u },
        { "616263", 479470107u },
        { "61626364", 2971317748u },
        { "6162636465", 461995741u },
        { "3231", 3321034988u },
        { "666f6f626172", 3504634814u },
        { "757365722d3432", 1459644460u },
        { "68c3a96c6c6f2077c3b6726c64", 439213890u },
        { "0102030405060708090a0b0c0d0e0f10111213", 3871673360u },
        { "4dca182530bb1d6d132cded6237b2ed91e3f721fcb", 3993145657u },
        { "71174494", 955177607u },
        { "493c9d5c3460be31201e69fedaa0eee8b9997f5c7c2999fdafe593", 2507932365u },
        { "253cd654af4dfad71427a0aeb3fee9232f8af2211f9ee491c5b10becb5563bfc1e6f93427ecbc8", 387062541u },
        { "2955e5cd8e46dc8ed4b7c2764d2a5a4d767706f85d8690024ad6bda3401be9c8", 1966365458u },
        { "ccc935f6cd1f61226ae15338ae1a34004d33ba0d246ac04c81b1", 446329344u },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Matches_the_Java_clients_murmur2(string keyHex, uint expected) =>
        Assert.Equal(expected, unchecked((uint)Murmur2Partitioner.Murmur2(Convert.FromHexString(keyHex))));

    [Property]
    public void The_partition_is_in_range(byte[] key, PositiveInt partitions)
    {
        int p = Murmur2Partitioner.Partition(key, partitions.Get);
        Assert.InRange(p, 0, partitions.Get - 1);
    }
}
