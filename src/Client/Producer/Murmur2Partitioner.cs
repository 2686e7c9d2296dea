namespace LogBroker.Client.Producer;

/// <summary>
/// The Java client's default key partitioner: murmur2 of the key bytes, made positive, modulo the
/// partition count. Keyed records land on the same partitions as with the Java client.
/// </summary>
internal static class Murmur2Partitioner
{
    private const uint Seed = 0x9747b28c;
    private const uint M = 0x5bd1e995;
    private const int R = 24;

    /// <summary>
    /// MurmurHash2, 32-bit, exactly as <c>org.apache.kafka.common.utils.Utils.murmur2</c> computes it
    /// (seed 0x9747b28c, little-endian 4-byte chunks).
    /// </summary>
    /// <param name="data">The bytes to hash.</param>
    /// <returns>The hash, as Java's signed int.</returns>
    public static int Murmur2(ReadOnlySpan<byte> data)
    {
        int length = data.Length;
        uint h = Seed ^ (uint)length;
        int length4 = length / 4;

        unchecked
        {
            for (int i = 0; i < length4; i++)
            {
                int i4 = i * 4;
                uint k = data[i4]
                    | ((uint)data[i4 + 1] << 8)
                    | ((uint)data[i4 + 2] << 16)
                    | ((uint)data[i4 + 3] << 24);
                k *= M;
                k ^= k >> R;
                k *= M;
                h *= M;
                h ^= k;
            }

            int tail = length & ~3;
            switch (length % 4)
            {
                case 3:
                    h ^= (uint)data[tail + 2] << 16;
                    h ^= (uint)data[tail + 1] << 8;
                    h ^= data[tail];
                    h *= M;
                    break;
                case 2:
                    h ^= (uint)data[tail + 1] << 8;
                    h ^= data[tail];
                    h *= M;
                    break;
                case 1:
                    h ^= data[tail];
                    h *= M;
                    break;
                default:
                    break;
            }

            h ^= h >> 13;
            h *= M;
            h ^= h >> 15;
            return (int)h;
        }
    }

    /// <summary>The partition of a key: <c>toPositive(murmur2(key)) % partitionCount</c>, as the Java client.</summary>
    /// <param name="key">The serialized key.</param>
    /// <param name="partitionCount">The topic's partition count, at least 1.</param>
    /// <returns>A partition index in [0, <paramref name="partitionCount"/>).</returns>
    public static int Partition(ReadOnlySpan<byte> key, int partitionCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(partitionCount);
        return (Murmur2(key) & 0x7fffffff) % partitionCount;
    }
}
