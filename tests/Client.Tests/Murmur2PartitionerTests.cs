using System.Text;
using FsCheck;
using FsCheck.Xunit;
using LogBroker.Client.Producer;

namespace LogBroker.Client.Tests;

public sealed class Murmur2PartitionerTests
{
    // The vectors of Kafka's own UtilsTest.testMurmur2 (org.apache.kafka.common.utils).
    [Theory]
    [InlineData("21", -973932308)]
    [InlineData("foobar", -790332482)]
    [InlineData("a-little-bit-long-string", -985981536)]
    [InlineData("a-little-bit-longer-string", -1486304829)]
    [InlineData("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971)]
    [InlineData("abc", 479470107)]
    public void Matches_the_java_client_test_vectors(string key, int expected) =>
        Assert.Equal(expected, Murmur2Partitioner.Murmur2(Encoding.UTF8.GetBytes(key)));

    // Generated with kafka-python 2.0.2 (kafka.partitioner.default.murmur2, a port of the Java function;
    // Debian package python3-kafka): hex key, signed hash, partition of 7, partition of 100.
    // Keys: empty, bytes 01..n for n = 1..20, random bytes of lengths 1..20, 31, 64 and 100.
    [Theory]
    [InlineData("", 275646681, 2, 81)]
    [InlineData("01", 2107329057, 1, 57)]
    [InlineData("0102", -1935140722, 5, 26)]
    [InlineData("010203", 2139322793, 6, 93)]
    [InlineData("01020304", -1698034171, 1, 77)]
    [InlineData("0102030405", 963186390, 5, 90)]
    [InlineData("010203040506", 2086299777, 2, 77)]
    [InlineData("01020304050607", -528389943, 5, 5)]
    [InlineData("0102030405060708", -1574696873, 1, 75)]
    [InlineData("010203040506070809", -1187806756, 6, 92)]
    [InlineData("0102030405060708090a", 1978723107, 4, 7)]
    [InlineData("0102030405060708090a0b", -234812442, 5, 6)]
    [InlineData("0102030405060708090a0b0c", -275759188, 4, 60)]
    [InlineData("0102030405060708090a0b0c0d", -1888264985, 4, 63)]
    [InlineData("0102030405060708090a0b0c0d0e", 1149464999, 4, 99)]
    [InlineData("0102030405060708090a0b0c0d0e0f", 663925741, 3, 41)]
    [InlineData("0102030405060708090a0b0c0d0e0f10", -1277224409, 3, 39)]
    [InlineData("0102030405060708090a0b0c0d0e0f1011", -1569419596, 6, 52)]
    [InlineData("0102030405060708090a0b0c0d0e0f101112", 1856206955, 1, 55)]
    [InlineData("0102030405060708090a0b0c0d0e0f10111213", -423293936, 0, 12)]
    [InlineData("0102030405060708090a0b0c0d0e0f1011121314", -1605003570, 0, 78)]
    [InlineData("ac", -1869218399, 3, 49)]
    [InlineData("844c", 1915968918, 3, 18)]
    [InlineData("bbbcab", 831623595, 5, 95)]
    [InlineData("08769b3f", -233317859, 4, 89)]
    [InlineData("19d0b7992b", 1563087575, 0, 75)]
    [InlineData("5d3f0f67a701", -1730801054, 6, 94)]
    [InlineData("78999ad4cd6bec", -2086919068, 6, 80)]
    [InlineData("bfd37e1c84bd8ec1", -2029792955, 1, 93)]
    [InlineData("746f4ddb1cc00fa8cf", -1583069597, 5, 51)]
    [InlineData("b930d4e1a91e3b5c1f94", -1524802355, 3, 93)]
    [InlineData("a66a05ab08797fb8beda17", -1391235466, 4, 82)]
    [InlineData("4a26818605e887452c7aa0b2", 1068251368, 2, 68)]
    [InlineData("e0efc01827937150fcd25f5e91", 876114293, 5, 93)]
    [InlineData("1d1ae4ab24c0bed4329301b86255", -840670499, 5, 49)]
    [InlineData("6fa54bd026b1a2d98d2815d3f39898", -1457524537, 2, 11)]
    [InlineData("7dd4532d9b9b7158dec4be62d8ec0d7e", 1424219945, 1, 45)]
    [InlineData("0336ba44a1b079e8da0b1f37e05e0e108e", 1161516409, 4, 9)]
    [InlineData("1bd6916700e5915e5d82c215543203ab4c92", -955781832, 4, 16)]
    [InlineData("35a7febdb081bf6f47c8b3508905f7a2cc237c", -2141543374, 4, 74)]
    [InlineData("cddd87949155eff7ecb7a59e053d24015603d604", 48512924, 5, 24)]
    [InlineData("9ace5b8a982e540f3ee71826b44476f2a34826fd9635cfe4acfa26fef3b9fd", -538084063, 3, 85)]
    [InlineData("30ed03b367ec9cafb1a34f55ede661e3b3c55778f545589704694f15ea13f50a3e71826004caf62d98afe23f6a5a6c3ddc83bc61d4a6205ca2433bae80446ce4", 1543796400, 6, 0)]
    [InlineData("be3f18e472eba8486286cd614f1440c8e990d7aa27011fe30fc60cde10a101d4ce080bfd00e1701ba07e1443ad1965ef8b1fc812a5a6d82e3563da3d18d4eefa0eb898d8259f9239193846b76850afbe3ea9d1f63922bc13cdc38df4aa61530ab3d7f46a", 1451355603, 5, 3)]
    public void Matches_kafka_python_for_bytes(string hex, int expected, int partitionOf7, int partitionOf100)
    {
        byte[] key = Convert.FromHexString(hex);
        Assert.Equal(expected, Murmur2Partitioner.Murmur2(key));
        Assert.Equal(partitionOf7, Murmur2Partitioner.Partition(key, 7));
        Assert.Equal(partitionOf100, Murmur2Partitioner.Partition(key, 100));
    }

    // Generated as above, from the UTF-8 bytes of each string: signed hash, partition of 3, partition of 100.
    [Theory]
    [InlineData("", 275646681, 0, 81)]
    [InlineData("a", -1563381124, 1, 24)]
    [InlineData("key", -1079937367, 1, 81)]
    [InlineData("user-42", 1459644460, 1, 60)]
    [InlineData("order:1234567", -1252482902, 0, 46)]
    [InlineData("héllo wörld", 439213890, 0, 90)]
    [InlineData("日本語のキー", -734675706, 2, 42)]
    [InlineData("emoji 🎉 key", -1284864040, 1, 8)]
    [InlineData("The quick brown fox jumps over the lazy dog", 495243318, 0, 18)]
    public void Matches_kafka_python_for_utf8_strings(string text, int expected, int partitionOf3, int partitionOf100)
    {
        byte[] key = Encoding.UTF8.GetBytes(text);
        Assert.Equal(expected, Murmur2Partitioner.Murmur2(key));
        Assert.Equal(partitionOf3, Murmur2Partitioner.Partition(key, 3));
        Assert.Equal(partitionOf100, Murmur2Partitioner.Partition(key, 100));
    }

    [Fact]
    public void Partition_is_java_toPositive_modulo_the_count()
    {
        // murmur2("21") is negative: toPositive masks the sign bit rather than negating.
        byte[] key = Encoding.UTF8.GetBytes("21");
        Assert.Equal((-973932308 & 0x7fffffff) % 10, Murmur2Partitioner.Partition(key, 10));
        Assert.Equal(0, Murmur2Partitioner.Partition(key, 1));
    }

    [Fact]
    public void A_non_positive_partition_count_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Murmur2Partitioner.Partition([1, 2, 3], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Murmur2Partitioner.Partition([1, 2, 3], -4));
    }

    [Property(MaxTest = 1000)]
    public bool Partition_is_in_range(byte[] key, PositiveInt partitionCount)
    {
        key ??= [];
        int partition = Murmur2Partitioner.Partition(key, partitionCount.Get);
        return partition >= 0 && partition < partitionCount.Get;
    }

    [Property(MaxTest = 300)]
    public bool A_slice_hashes_like_a_copy_of_it(byte[] buffer, NonNegativeInt start)
    {
        buffer ??= [];
        int offset = buffer.Length == 0 ? 0 : start.Get % buffer.Length;
        ReadOnlySpan<byte> slice = buffer.AsSpan(offset);
        return Murmur2Partitioner.Murmur2(slice) == Murmur2Partitioner.Murmur2(slice.ToArray());
    }
}
