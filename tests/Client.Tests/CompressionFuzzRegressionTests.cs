using System.Buffers;
using LogBroker.Client.Compression;
using LogBroker.Protocol.Records;

namespace LogBroker.Client.Tests;

/// <summary>
/// Inputs the codecs fuzz target (tests/Fuzz, tools/fuzz.sh codecs) found to throw out of
/// <see cref="CompressionCodecs.TryDecompress"/>, in that target's format: byte 0 is the codec (mod 5),
/// the rest the compressed payload. Each must now be refused with false.
/// </summary>
public sealed class CompressionFuzzRegressionTests
{
    public static TheoryData<string, string> Crashes { get; } = new()
    {
        // LZ4 frames whose FLG byte sets the dictionary-ID bit: K4os throws NotImplementedException
        // ("Predefined dictionaries feature is not implemented").
        { "lz4-dictionary-id-1", "0304224d186b408201000304224d1860af82d2000000ff05c0010000000a6b65792d30880176fffffffffffffffffffffffffffffffffffaffffffffffffffff7dffffff616c75652d302d7807040468310476300a7472ffff8000616263ff80301a316200110462001432620012326200301a32620011066200143362001f33101010101010101010106200301f33620011086200143462001f346200301a346200110a6200143562001f356200301a31620011046200143662001f366200301a366200110e6200143762001f376200301a37620011106200143862001f3839620030b0390a747261" },
        { "lz4-dictionary-id-2", "3504224d185f07890436360e37381237381239ae0212687800a001f3000000ff041237381239ae0212687800a001f3000000ff043232063333083438123939360e3738123738008038ff0003520040013636e803000037353438008038ff0003523835350cd8811440072e7620350c80ff010103e031310432076c806e1511010352001d" },
    };

    [Theory]
    [MemberData(nameof(Crashes))]
    public void A_fuzz_crash_input_is_refused_without_an_exception(string name, string hex)
    {
        byte[] input = Convert.FromHexString(hex);
        var codec = (CompressionType)(input[0] % 5);
        var output = new ArrayBufferWriter<byte>();

        bool ok = CompressionCodecs.TryDecompress(codec, input.AsSpan(1), output, 1024 * 1024, out _);

        Assert.False(ok, name);
    }
}
