using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Broker.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(LogBroker.Broker.Benchmarks.GroupBenchmarks).Assembly).Run(args);
