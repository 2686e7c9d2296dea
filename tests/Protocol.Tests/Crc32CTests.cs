using System.Text;
using LogBroker.Protocol.Records;

namespace LogBroker.Protocol.Tests;

public sealed class Crc32CTests
{
    [Theory]
    [InlineData("", 0x00000000u)]
    [InlineData("a", 0xC1D04330u)]
    [InlineData("123456789", 0xE3069283u)] // the CRC-32C check value
    [InlineData("The quick brown fox jumps over the lazy dog", 0x22620404u)]
    public void Known_vectors(string text, uint expected) =>
        Assert.Equal(expected, Crc32C.Compute(Encoding.ASCII.GetBytes(text)));

    [Fact]
    public void Thirty_two_zero_bytes_match_the_rfc_3720_vector() =>
        Assert.Equal(0x8A9136AAu, Crc32C.Compute(new byte[32]));

    [Fact]
    public void Every_length_agrees_with_a_bitwise_reference()
    {
        var random = new Random(7);
        byte[] data = new byte[300];
        random.NextBytes(data);
        for (int length = 0; length <= data.Length; length++)
        {
            uint expected = Reference(data.AsSpan(0, length));
            Assert.Equal(expected, Crc32C.Compute(data.AsSpan(0, length)));

        }
    }

    private static uint Reference(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
            }
        }

        return ~crc;
    }
}
