using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests;

/// <summary>A bare TCP connection speaking Kafka frames, for tests that must send what clients would not.</summary>
internal sealed class RawConnection : IDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private int _correlation;
    private string? _clientId = "raw-test";

    private RawConnection(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    public static Task<RawConnection> OpenAsync(int port) => OpenAsync(IPAddress.Loopback, port);

    /// <summary>A connection to <paramref name="address"/>:<paramref name="port"/> (a broker in a network namespace of its own).</summary>
    public static async Task<RawConnection> OpenAsync(IPAddress address, int port)
    {
        var client = new TcpClient();
        await client.ConnectAsync(address, port);
        return new RawConnection(client);
    }

    /// <summary>A connection whose requests carry <paramref name="clientId"/> in their header (quotas go by it).</summary>
    public static async Task<RawConnection> OpenAsync(int port, string? clientId)
    {
        RawConnection connection = await OpenAsync(port);
        connection._clientId = clientId;
        return connection;
    }

    public Task SendRawAsync(byte[] bytes) => _stream.WriteAsync(bytes).AsTask();

    public async Task SendAsync(byte[] header, byte[] body)
    {
        byte[] frame = new byte[4 + header.Length + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, header.Length + body.Length);
        header.CopyTo(frame, 4);
        body.CopyTo(frame, 4 + header.Length);
        try
        {
            await _stream.WriteAsync(frame);
        }
        catch (IOException)
        {
            // The broker may already have closed the connection on an earlier frame.
        }
    }

    /// <summary>Encodes and sends a request with a proper header, without waiting for the answer.</summary>
    public async Task SendRequestAsync(ApiKey key, short version, int correlation, IKafkaMessage request) =>
        await _stream.WriteAsync(RequestFrames.Encode(key, version, correlation, request, _clientId));

    /// <summary>Reads one response frame and its correlation id.</summary>
    public async Task<(int CorrelationId, byte[] Frame)> ReceiveWithIdAsync(TimeSpan timeout)
    {
        byte[] frame = await ReceiveAsync(timeout);
        return (BinaryPrimitives.ReadInt32BigEndian(frame), frame);
    }

    /// <summary>Encodes and sends a request with a proper header, then reads and decodes the response.</summary>
    public async Task<T> RequestAsync<T>(ApiKey key, short version, IKafkaMessage request, TimeSpan timeout)
        where T : IKafkaMessage, new()
    {
        int correlation = ++_correlation;
        await SendRequestAsync(key, version, correlation, request);
        byte[] response = await ReceiveAsync(timeout);
        Assert.Equal(correlation, BinaryPrimitives.ReadInt32BigEndian(response));
        return Decode<T>(key, version, response);
    }

    /// <summary>
    /// Asks a fresh connection for ApiVersions in <paramref name="version"/> (with a client name, which v3+ carry),
    /// checks it succeeded, and returns each advertised key's version range.
    /// </summary>
    public static async Task<Dictionary<ApiKey, (short Min, short Max)>> AdvertisedRangesAsync(int port, short version, TimeSpan timeout)
    {
        using RawConnection connection = await OpenAsync(port);
        ApiVersionsResponse response = await connection.RequestAsync<ApiVersionsResponse>(ApiKey.ApiVersions, version,
            new ApiVersionsRequest { ClientSoftwareName = "test", ClientSoftwareVersion = "1" }, timeout);
        Assert.Equal(0, response.ErrorCode);
        var ranges = new Dictionary<ApiKey, (short Min, short Max)>();
        foreach (ApiVersionsResponse.ApiVersion key in response.ApiKeys)
        {
            ranges.Add((ApiKey)key.ApiKey, (key.MinVersion, key.MaxVersion));
        }

        return ranges;
    }

    /// <summary>Decodes a response frame (correlation id first) of <paramref name="key"/> v<paramref name="version"/>.</summary>
    public static T Decode<T>(ApiKey key, short version, byte[] response)
        where T : IKafkaMessage, new()
    {
        var reader = new KafkaReader(response);
        reader.ReadInt32();
        if (ApiMessages.ResponseHeaderHasTaggedFields(key, version))
        {
            reader.SkipTaggedFields();
        }

        var result = new T();
        result.Read(ref reader, version);
        Assert.False(reader.Failed, $"{key} v{version} response did not decode");
        return result;
    }

    public async Task<byte[]> ReceiveAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        byte[] prefix = new byte[4];
        await _stream.ReadExactlyAsync(prefix, cts.Token);
        byte[] body = new byte[BinaryPrimitives.ReadInt32BigEndian(prefix)];
        await _stream.ReadExactlyAsync(body, cts.Token);
        return body;
    }

    /// <summary>True when the peer closes (EOF or reset) within <paramref name="timeout"/>.</summary>
    public async Task<bool> IsClosedByPeerAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        byte[] buffer = new byte[1024];
        try
        {
            while (true)
            {
                if (await _stream.ReadAsync(buffer, cts.Token) == 0)
                {
                    return true;
                }
            }
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _stream.Dispose();
        _client.Dispose();
    }
}
