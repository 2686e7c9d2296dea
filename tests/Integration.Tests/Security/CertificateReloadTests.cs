using System.Net.Security;
using System.Net.Sockets;

namespace LogBroker.Integration.Tests.Security;

/// <summary>TLS certificates are reloaded without a restart: on a file change, and SIGHUP neither stops the broker nor breaks TLS.</summary>
public sealed class CertificateReloadTests(SecureBroker broker) : IClassFixture<SecureBroker>
{
    private async Task<string> ServedSerialAsync()
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, broker.SaslSslPort, TestContext.Current.CancellationToken);
        await using var ssl = new SslStream(tcp.GetStream(), false, (_, certificate, _, _) => certificate is not null);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }, TestContext.Current.CancellationToken);
        return ssl.RemoteCertificate!.GetSerialNumberString();
    }

    [Fact]
    public async Task A_changed_certificate_file_is_served_without_a_restart_and_SIGHUP_does_not_stop_the_broker()
    {
        string before = await ServedSerialAsync();
        broker.Certificates.Server("server"); // overwrites the files the listener uses, with a new serial
        string after = before;
        for (int i = 0; i < 100 && after == before; i++)
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
            after = await ServedSerialAsync();
        }

        Assert.NotEqual(before, after);

        using (var hup = System.Diagnostics.Process.Start("kill", ["-HUP", broker.Process.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await hup.WaitForExitAsync(TestContext.Current.CancellationToken);
        }

        await Task.Delay(500, TestContext.Current.CancellationToken);
        Assert.False(broker.Process.HasExited, "SIGHUP reloads certificates; it must not stop the broker");
        Assert.Equal(after, await ServedSerialAsync());
    }
}
