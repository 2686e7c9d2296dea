namespace LogBroker.Client.Producer;

internal static class Murmur2Partitioner
{
    public static int Murmur2(ReadOnlySpan<byte> data)
    {
        const uint M = 0x5bd1e995;
        int length = data.Length;
        uint h = 0x9747b28c ^ (uint)length;
        int i = 0;
        for (; i + 4 <= length; i += 4)
        {
            uint k = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(data[i..]);
            k *= M;
            k ^= k >> 24;
            k *= M;
            h *= M;
            h ^= k;
        }

        switch (length & 3)
        {
            case 3:
                h ^= (uint)data[i + 2] << 16;
                goto case 2;
            case 2:
                h ^= (uint)data[i + 1] << 8;
                goto case 1;
            case 1:
                h ^= data[i];
                h *= M;
                break;
        }

        h ^= h >> 13;
        h *= M;
        h ^= h >> 15;
        return (int)h;
    }

    public static int Partition(ReadOnlySpan<byte> key, int partitionCount) => (Murmur2(key) & 0x7fffffff) % partitionCount;
}
