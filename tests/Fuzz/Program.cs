// SharpFuzz targets for afl-fuzz. Run through tools/fuzz.sh, which builds, instruments and starts afl:
//   LogBroker.Fuzz TARGET                 fuzz TARGET (frame, requests, batch, codecs) under afl-fuzz
//   LogBroker.Fuzz TARGET --run FILE...   run each input once outside afl (reproduce a crash) with an
//                                         uninstrumented build; exit 1 if any throws
//   LogBroker.Fuzz corpus GOLDEN OUT      write the seed corpus for every target from the golden frames
using LogBroker.Fuzz;
using SharpFuzz;

if (args.Length == 3 && args[0] == "corpus")
{
    SeedCorpus.Write(args[1], args[2]);
    return 0;
}

if (args.Length < 1 || !Targets.All.TryGetValue(args[0], out Action<byte[]>? target))
{
    Console.Error.WriteLine("usage: LogBroker.Fuzz {frame|requests|batch|codecs} [--run FILE...] | corpus GOLDEN_DIR OUT_DIR");
    return 2;
}

if (args.Length > 1 && args[1] == "--run")
{
    // Not under afl, so only for an uninstrumented build: instrumented code traps until Fuzzer.Run
    // has mapped afl's shared memory.
    Targets.Warm();
    int failed = 0;
    foreach (string file in args.Skip(2))
    {
        try
        {
            target(File.ReadAllBytes(file));
        }
        catch (Exception e)
        {
            failed++;
            Console.WriteLine($"{file}: {e}");
        }
    }

    Console.WriteLine($"{args.Length - 2} inputs, {failed} threw");
    return failed == 0 ? 0 : 1;
}

Fuzzer.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    target(buffer.ToArray());
});
return 0;
