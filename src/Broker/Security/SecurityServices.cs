using LogBroker.Broker.Handlers;
using LogBroker.Broker.Network;
using LogBroker.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker.Security;

/// <summary>Registers listeners' security: the <c>Security</c> options, the SCRAM credential store, SASL and the user APIs.</summary>
internal static class SecurityServices
{
    public static IServiceCollection AddLogBrokerSecurity(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SecurityOptions>().Bind(configuration.GetSection("Security")).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp =>
        {
            var store = new ScramCredentialStore(sp.GetRequiredService<IOptions<StorageOptions>>().Value.DataDirectory, sp.GetRequiredService<ILogger<ScramCredentialStore>>());
            store.EnsureInitialUser(sp.GetRequiredService<IOptions<SecurityOptions>>().Value);
            return store;
        });
        services.AddSingleton<SaslAuthenticator>();
        services.AddSingleton(sp => new Authorization.AclStore(sp.GetRequiredService<IOptions<StorageOptions>>().Value.DataDirectory,
            sp.GetRequiredService<ILogger<Authorization.AclStore>>()));
        services.AddSingleton<Authorization.Authorizer>();
        services.AddSingleton<IRequestHandler, SaslHandshakeHandler>();
        services.AddSingleton<IRequestHandler, SaslAuthenticateHandler>();
        services.AddSingleton<IRequestHandler, DescribeUserScramCredentialsHandler>();
        services.AddSingleton<IRequestHandler, AlterUserScramCredentialsHandler>();
        services.AddSingleton<IRequestHandler, DescribeAclsHandler>();
        services.AddSingleton<IRequestHandler, CreateAclsHandler>();
        services.AddSingleton<IRequestHandler, DeleteAclsHandler>();
        return services;
    }
}
