using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using LogBroker.Protocol.Compression;
using LogBroker.Protocol.Records;

namespace LogBroker.Protocol.Benchmarks;

/// <summary>
/// The batches the record benchmarks share: 100-byte JSON-like values with varying digits (so the codecs
/// compress them about as much as real payloads), filled up to a number of uncompressed record bytes, and
/// compressed with a codec the way a producer sends them.
/// </summary>
internal static class JsonLikeBatches
{
    /// <summary>The timestamp of the first record; record i is stamped <c>Now + i</c>.</summary>
    public const long Now = 1_700_000_000_000;

    /// <summary>A valid batch v2 of about <paramref name="recordBytes"/> uncompressed record bytes in <paramref name="codec"/>.</summary>
    public static byte[] Build(int recordBytes, CompressionType codec)
    {
        var builder = new RecordBatchBuilder();
        var random = new Random(42);
        for (int i = 0; builder.Count * 110 < recordBytes; i++)
        {
            string json = $"{{\"id\":{random.Next(1_000_000)},\"user\":\"u{random.Next(5000)}\",\"ts\":{Now + i},\"amount\":{random.Next(100000) / 100.0:F2},\"ok\":true}}";
            builder.Add(Now + i, default, Encoding.ASCII.GetBytes(json.PadRight(100, ' ')[..100]), keyIsNull: true);
        }

        byte[] plain = builder.ToArray();
        return codec == CompressionType.None ? plain : Compress(plain, codec);
    }

    private static byte[] Compress(byte[] plain, CompressionType codec)
    {
        var body = new ArrayBufferWriter<byte>();
        CompressionCodecs.Compress(codec, plain.AsSpan(RecordBatch.HeaderSize), body);
        byte[] batch = new byte[RecordBatch.HeaderSize + body.WrittenCount];
        plain.AsSpan(0, RecordBatch.HeaderSize).CopyTo(batch);
        body.WrittenSpan.CopyTo(batch.AsSpan(RecordBatch.HeaderSize));
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.LengthOffset), batch.Length - RecordBatch.LogOverhead);
        BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(RecordBatch.AttributesOffset), (short)codec);
        RecordBatch.WriteCrc(batch);
        return batch;
    }
}
