using System.Text;
using LogBroker.Protocol.Records;

namespace LogBroker.TestKit;

/// <summary>Record batches for tests: uncompressed, with recognisable keys and values.</summary>
public static class Batches
{
    /// <summary>A batch of <paramref name="records"/> records of about <paramref name="valueBytes"/> bytes each.</summary>
    public static byte[] Create(int records, int valueBytes = 16, long timestamp = 1_700_000_000_000, string tag = "r")
    {
        var builder = new RecordBatchBuilder();
        byte[] value = new byte[valueBytes];
        for (int i = 0; i < records; i++)
        {
            value.AsSpan().Fill((byte)('a' + (i % 26)));
            builder.Add(timestamp + i, Encoding.UTF8.GetBytes($"{tag}-{i}"), value);
        }

        return builder.ToArray();
    }

    /// <summary>A batch whose records carry the given timestamps.</summary>
    public static byte[] WithTimestamps(params long[] timestamps)
    {
        var builder = new RecordBatchBuilder();
        foreach (long timestamp in timestamps)
        {
            builder.Add(timestamp, "k"u8, "v"u8);
        }

        return builder.ToArray();
    }

    /// <summary>Splits concatenated batches into (base offset, record count, bytes) triples.</summary>
    public static List<(long BaseOffset, int Records, byte[] Bytes)> Split(ReadOnlySpan<byte> batches)
    {
        var result = new List<(long, int, byte[])>();
        while (!batches.IsEmpty)
        {
            if (RecordBatch.Validate(batches, out RecordBatchHeader header, out int size) != BatchValidation.Valid)
            {
                throw new InvalidDataException($"Invalid batch at {result.Count}: {RecordBatch.Validate(batches, out _, out _)}");
            }

            result.Add((header.BaseOffset, header.RecordCount, batches[..size].ToArray()));
            batches = batches[size..];
        }

        return result;
    }
}
