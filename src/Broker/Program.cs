using LogBroker.Broker;
using Microsoft.Extensions.Hosting;

// The LogBroker daemon. Run from the repository root: dotnet run -c Release --project src/Broker
await BrokerApp.CreateBuilder(args).Build().RunAsync().ConfigureAwait(false);
