namespace LogBroker.Protocol.Primitives;

/// <summary>
/// Protobuf-style base-128 varints with zig-zag for signed values, as Kafka records and flexible
/// message versions use them. Every read is bounded: at most 5 bytes for 32-bit, 10 for 64-bit.
/// </summary>
public static class VarInt
{
    /// <summary>Reads a zig-zag varint (signed 32-bit). Returns false on truncation or overlong encoding.</summary>
    public static bool TryReadInt32(ReadOnlySpan<byte> buffer, out int value, out int bytesRead)
    {
        if (!TryReadUInt32(buffer, out uint raw, out bytesRead))
        {
            value = 0;
            return false;
        }

        value = (int)(raw >> 1) ^ -(int)(raw & 1);
        return true;
    }

    /// <summary>Reads a zig-zag varlong (signed 64-bit). Returns false on truncation or overlong encoding.</summary>
    public static bool TryReadInt64(ReadOnlySpan<byte> buffer, out long value, out int bytesRead)
    {
        ulong raw = 0;
        value = 0;
        for (int i = 0; i < 10; i++)
        {
            if (i >= buffer.Length)
            {
                bytesRead = 0;
                return false;
            }

            byte b = buffer[i];
            raw |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                bytesRead = i + 1;
                value = (long)(raw >> 1) ^ -(long)(raw & 1);
                return true;
            }
        }

        bytesRead = 0;
        return false;
    }

    /// <summary>Reads an unsigned varint (32-bit). Returns false on truncation or overlong encoding.</summary>
    public static bool TryReadUInt32(ReadOnlySpan<byte> buffer, out uint value, out int bytesRead)
    {
        value = 0;
        for (int i = 0; i < 5; i++)
        {
            if (i >= buffer.Length)
            {
                bytesRead = 0;
                return false;
            }

            byte b = buffer[i];
            if (i == 4 && b > 0x0F)
            {
                break; // more than 32 bits
            }

            value |= (uint)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                bytesRead = i + 1;
                return true;
            }
        }

        bytesRead = 0;
        value = 0;
        return false;
    }

    /// <summary>Bytes needed for <paramref name="value"/> as a zig-zag varint.</summary>
    public static int SizeOfInt32(int value) => SizeOfUInt64((uint)((value << 1) ^ (value >> 31)));

    /// <summary>Bytes needed for <paramref name="value"/> as a zig-zag varlong.</summary>
    public static int SizeOfInt64(long value) => SizeOfUInt64((ulong)((value << 1) ^ (value >> 63)));

    /// <summary>Bytes needed for <paramref name="value"/> as an unsigned varint.</summary>
    public static int SizeOfUInt64(ulong value)
    {
        int size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }

        return size;
    }

    /// <summary>Writes a zig-zag varint; returns the bytes written. The caller sizes the span.</summary>
    public static int WriteInt32(Span<byte> buffer, int value) => WriteUInt64(buffer, (uint)((value << 1) ^ (value >> 31)));

    /// <summary>Writes a zig-zag varlong; returns the bytes written. The caller sizes the span.</summary>
    public static int WriteInt64(Span<byte> buffer, long value) => WriteUInt64(buffer, (ulong)((value << 1) ^ (value >> 63)));

    /// <summary>Writes an unsigned varint; returns the bytes written. The caller sizes the span.</summary>
    public static int WriteUInt64(Span<byte> buffer, ulong value)
    {
        int i = 0;
        while (value >= 0x80)
        {
            buffer[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        buffer[i++] = (byte)value;
        return i;
    }
}
