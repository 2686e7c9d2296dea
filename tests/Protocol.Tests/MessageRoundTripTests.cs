using System.Buffers;
using System.Collections;
using System.Reflection;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;

namespace LogBroker.Protocol.Tests;

/// <summary>
/// Every generated message, in every version of its schema, survives encode → decode → encode with
/// identical bytes and every byte consumed, for randomly filled instances (fields of other versions
/// included: they must simply not be written).
/// </summary>
public sealed class MessageRoundTripTests
{
    private const int InstancesPerVersion = 25;

    public static TheoryData<string> MessageTypes()
    {
        var data = new TheoryData<string>();
        foreach (Type type in typeof(IKafkaMessage).Assembly.GetTypes()
                     .Where(t => typeof(IKafkaMessage).IsAssignableFrom(t) && t is { IsClass: true, DeclaringType: null })
                     .OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            data.Add(type.Name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(MessageTypes))]
    public void Random_instances_round_trip_in_every_version(string typeName)
    {
        Type type = typeof(IKafkaMessage).Assembly.GetTypes().Single(t => t.Name == typeName && t.DeclaringType is null);
        short lowest = (short)type.GetField("LowestVersion")!.GetValue(null)!;
        short highest = (short)type.GetField("HighestVersion")!.GetValue(null)!;
        for (short version = lowest; version <= highest; version++)
        {
            var random = new Random(HashCode.Combine(typeName.Length, typeName[0], version));
            for (int i = 0; i < InstancesPerVersion; i++)
            {
                var message = (IKafkaMessage)Fill(type, random, depth: 0);
                byte[] first = Encode(message, version);

                var reader = new KafkaReader(first.AsMemory());
                var decoded = (IKafkaMessage)Activator.CreateInstance(type)!;
                decoded.Read(ref reader, version);
                Assert.False(reader.Failed, $"{typeName} v{version} did not decode its own encoding");
                Assert.Equal(0, reader.Remaining);
                Assert.Equal(Convert.ToHexString(first), Convert.ToHexString(Encode(decoded, version)));
            }
        }
    }

    private static byte[] Encode(IKafkaMessage message, short version)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new KafkaWriter(buffer);
        message.Write(ref writer, version);
        writer.Commit();
        return buffer.WrittenSpan.ToArray();
    }

    private static object Fill(Type type, Random random, int depth)
    {
        object instance = Activator.CreateInstance(type)!;
        foreach (PropertyInfo property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            property.SetValue(instance, Value(property.PropertyType, random, depth));
        }

        return instance;
    }

    private static object? Value(Type type, Random random, int depth)
    {
        Type inner = Nullable.GetUnderlyingType(type) ?? type;
        if (inner == typeof(bool))
        {
            return random.Next(2) == 1;
        }

        if (inner == typeof(sbyte))
        {
            return (sbyte)random.Next(sbyte.MinValue, sbyte.MaxValue + 1);
        }

        if (inner == typeof(short))
        {
            return (short)random.Next(short.MinValue, short.MaxValue + 1);
        }

        if (inner == typeof(ushort))
        {
            return (ushort)random.Next(ushort.MaxValue + 1);
        }

        if (inner == typeof(int))
        {
            return random.Next(int.MinValue, int.MaxValue);
        }

        if (inner == typeof(uint))
        {
            return (uint)random.NextInt64(uint.MaxValue);
        }

        if (inner == typeof(long))
        {
            return random.NextInt64(long.MinValue, long.MaxValue);
        }

        if (inner == typeof(double))
        {
            return random.NextDouble() * 1e6;
        }

        if (inner == typeof(Guid))
        {
            byte[] bytes = new byte[16];
            random.NextBytes(bytes);
            return new Guid(bytes);
        }

        if (inner == typeof(string))
        {
            return new string((char)('a' + random.Next(26)), random.Next(0, 12)) + "é";
        }

        if (inner == typeof(ReadOnlyMemory<byte>))
        {
            byte[] bytes = new byte[random.Next(0, 40)];
            random.NextBytes(bytes);
            return new ReadOnlyMemory<byte>(bytes);
        }

        if (inner.IsGenericType && inner.GetGenericTypeDefinition() == typeof(List<>))
        {
            var list = (IList)Activator.CreateInstance(inner)!;
            int count = depth > 3 ? 0 : random.Next(0, 4);
            for (int i = 0; i < count; i++)
            {
                list.Add(Value(inner.GetGenericArguments()[0], random, depth + 1));
            }

            return list;
        }

        return Fill(inner, random, depth + 1);
    }
}
