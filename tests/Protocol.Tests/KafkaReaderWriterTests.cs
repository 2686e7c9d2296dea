using System.Buffers;
using FsCheck.Xunit;
using LogBroker.Protocol.Primitives;

namespace LogBroker.Protocol.Tests;

public sealed class KafkaReaderWriterTests
{
    [Property(MaxTest = 300)]
    public bool Every_primitive_round_trips_in_classic_and_flexible_encodings(
        sbyte i8, short i16, int i32, long i64, Guid uuid, string? text, byte[]? bytes, bool compact)
    {
        var buffer = new ArrayBufferWriter<byte>(16); // small: forces many GetSpan calls
        var writer = new KafkaWriter(buffer);
        writer.WriteInt8(i8);
        writer.WriteInt16(i16);
        writer.WriteInt32(i32);
        writer.WriteInt64(i64);
        writer.WriteUuid(uuid);
        writer.WriteVarInt(i32);
        writer.WriteVarLong(i64);
        writer.WriteUnsignedVarInt((uint)i32);
        writer.WriteString(text, compact);
        writer.WriteBytes(bytes, compact, isNull: bytes is null);
        writer.WriteArrayLength(bytes?.Length ?? -1, compact);
        writer.WriteRaw(bytes); // an array of int8
        writer.WriteEmptyTaggedFields();
        writer.Commit();

        var reader = new KafkaReader(buffer.WrittenSpan);
        bool ok = reader.ReadInt8() == i8 && reader.ReadInt16() == i16 && reader.ReadInt32() == i32 &&
                  reader.ReadInt64() == i64 && reader.ReadUuid() == uuid && reader.ReadVarInt() == i32 &&
                  reader.ReadVarLong() == i64 && reader.ReadUnsignedVarInt() == (uint)i32 &&
                  reader.ReadNullableString(compact) == text;
        ReadOnlySpan<byte> readBytes = reader.ReadBytes(compact, out bool isNull);
        ok &= isNull == (bytes is null) && readBytes.SequenceEqual(bytes);
        int count = reader.ReadArrayLength(compact);
        ok &= count == (bytes?.Length ?? -1);
        for (int i = 0; i < count; i++)
        {
            ok &= (byte)reader.ReadInt8() == bytes![i];
        }

        reader.SkipTaggedFields();
        return ok && !reader.Failed && reader.Remaining == 0 && buffer.WrittenCount == writer.Written;
    }

    [Fact]
    public void A_read_past_the_end_fails_and_stays_failed()
    {
        var reader = new KafkaReader([0, 1, 2]);

        Assert.Equal(0, reader.ReadInt32());
        Assert.True(reader.Failed);
        Assert.Equal(0, reader.ReadInt8()); // sticky: even a read that would fit returns the default
        Assert.True(reader.Failed);
    }

    [Theory]
    [InlineData(false, new byte[] { 0x7F, 0xFF, 0xFF, 0xFF })]       // ARRAY of 2^31-1 elements, 0 bytes follow
    [InlineData(false, new byte[] { 0xFF, 0xFF, 0xFF, 0xFE })]       // ARRAY of -2
    [InlineData(true, new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0x0F })]  // COMPACT_ARRAY of 2^32-2
    public void Hostile_array_counts_fail_instead_of_reaching_the_caller(bool compact, byte[] frame)
    {
        var reader = new KafkaReader(frame);

        int count = reader.ReadArrayLength(compact);

        Assert.True(reader.Failed);
        Assert.Equal(0, count);
    }

    [Theory]
    [InlineData(new byte[] { 0x7F, 0xFF, (byte)'a' })]  // STRING claiming 32767 bytes
    [InlineData(new byte[] { 0xFF, 0xFE })]             // STRING of -2
    [InlineData(new byte[] { 0xFF, 0xFF })]             // null where a STRING is required
    public void Hostile_string_lengths_fail(byte[] frame)
    {
        var reader = new KafkaReader(frame);

        Assert.Equal(string.Empty, reader.ReadString());
        Assert.True(reader.Failed);
    }

    [Fact]
    public void Hostile_bytes_and_tagged_field_sizes_fail()
    {
        var bytes = new KafkaReader([0x7F, 0xFF, 0xFF, 0xFF, 1, 2]);
        Assert.True(bytes.ReadBytes(out _).IsEmpty);
        Assert.True(bytes.Failed);

        var tagged = new KafkaReader([0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x07]); // one field of 2^31-1 bytes
        tagged.SkipTaggedFields();
        Assert.True(tagged.Failed);
    }

    [Fact]
    public void Random_frames_never_throw()
    {
        var random = new Random(4242);
        byte[] frame = new byte[128];
        for (int i = 0; i < 20_000; i++)
        {
            random.NextBytes(frame);
            var reader = new KafkaReader(frame.AsSpan(0, random.Next(frame.Length)));
            bool compact = (i & 1) == 0;
            _ = reader.ReadInt16();
            _ = reader.ReadNullableString(compact);
            int count = reader.ReadArrayLength(compact);
            for (int e = 0; e < count && !reader.Failed; e++)
            {
                _ = reader.ReadBytes(compact, out _);
                reader.SkipTaggedFields();
            }

            Assert.True(reader.Position <= frame.Length);
        }
    }

    [Fact]
    public void A_reserved_size_prefix_can_be_filled_in_after_the_body()
    {
        var pipe = new System.IO.Pipelines.Pipe(new System.IO.Pipelines.PipeOptions(minimumSegmentSize: 16));
        var writer = new KafkaWriter(pipe.Writer);
        Span<byte> prefix = writer.Reserve(4);
        writer.WriteRaw(new byte[10_000]); // many segments
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(prefix, 10_000);
        writer.Commit();
        pipe.Writer.Complete();

        Assert.True(pipe.Reader.TryRead(out System.IO.Pipelines.ReadResult result));
        Assert.Equal(10_004, result.Buffer.Length);
        Assert.Equal(10_000, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(result.Buffer.FirstSpan));
    }
}
