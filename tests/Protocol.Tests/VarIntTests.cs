using FsCheck.Xunit;
using LogBroker.Protocol.Primitives;
using LogBroker.Protocol.Records;

namespace LogBroker.Protocol.Tests;

public sealed class VarIntTests
{
    [Property(MaxTest = 500)]
    public bool Int32_round_trips_with_the_predicted_size(int value)
    {
        Span<byte> buffer = stackalloc byte[5];
        int written = VarInt.WriteInt32(buffer, value);
        return written == VarInt.SizeOfInt32(value)
            && VarInt.TryReadInt32(buffer[..written], out int read, out int consumed)
            && read == value && consumed == written;
    }

    [Property(MaxTest = 500)]
    public bool Int64_round_trips_with_the_predicted_size(long value)
    {
        Span<byte> buffer = stackalloc byte[10];
        int written = VarInt.WriteInt64(buffer, value);
        return written == VarInt.SizeOfInt64(value)
            && VarInt.TryReadInt64(buffer[..written], out long read, out int consumed)
            && read == value && consumed == written;
    }

    [Property(MaxTest = 300)]
    public bool Every_truncated_encoding_is_refused(long value)
    {
        Span<byte> buffer = stackalloc byte[10];
        int written = VarInt.WriteInt64(buffer, value);
        for (int length = 0; length < written; length++)
        {
            if (VarInt.TryReadInt64(buffer[..length], out _, out _))
            {
                return false;
            }
        }

        return true;
    }

    [Theory]
    [InlineData(new byte[] { 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 })] // 6 bytes for 32 bits
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0x1F })]       // 35 bits
    public void Overlong_int32_encodings_are_refused(byte[] bytes) =>
        Assert.False(VarInt.TryReadInt32(bytes, out _, out _));

    [Fact]
    public void Overlong_int64_encodings_are_refused() =>
        Assert.False(VarInt.TryReadInt64(new byte[] { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }, out _, out _));

    [Fact]
    public void Malformed_records_stop_the_reader_without_reading_out_of_bounds()
    {
        var random = new Random(99);
        byte[] buffer = new byte[64];
        for (int i = 0; i < 20_000; i++)
        {
            random.NextBytes(buffer);
            var reader = new RecordReader(buffer.AsSpan(0, random.Next(buffer.Length)));
            int guard = 0;
            while (reader.TryRead(out RecordView record))
            {
                Assert.True(record.Key.Length + record.Value.Length <= buffer.Length);
                Assert.True(++guard <= buffer.Length, "each record consumes at least one byte");
            }
        }
    }
}
