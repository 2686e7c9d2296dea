using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Storage.Benchmarks -- --filter '*Append*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
