using System.Buffers;
using System.Runtime.InteropServices;
using LogBroker.Protocol.Messages;
using LogBroker.Storage;

namespace LogBroker.Broker.Network;

/// <summary>
/// One request on its way through the broker: the frame (in a pooled buffer), the parsed header,
/// and what the handler answered. Owned by the connection; disposed after the response is written.
/// </summary>
internal sealed class RequestContext : IDisposable
{
    private byte[]? _frame;
    private List<LogReadResult>? _leases;

    public RequestContext(byte[] frame, int length, RequestHeader header, string connection)
    {
        _frame = frame;
        Frame = frame.AsMemory(0, length);
        Header = header;
        Connection = connection;
    }

    /// <summary>The whole request frame after the size prefix; valid until <see cref="Dispose"/>.</summary>
    public ReadOnlyMemory<byte> Frame { get; }

    public RequestHeader Header { get; }

    public ApiKey ApiKey => (ApiKey)Header.ApiKey;

    public short Version => Header.ApiVersion;

    /// <summary>The client id from the request header (set once the request is decoded).</summary>
    public string? ClientId { get; set; }

    /// <summary>The remote endpoint, for logs.</summary>
    public string Connection { get; }

    /// <summary>The response to write, or null for none (acks=0 produce).</summary>
    public IKafkaMessage? Response { get; set; }

    /// <summary>The version to encode the response in (differs from the request's only for the ApiVersions v0 fallback).</summary>
    public short ResponseVersion { get; set; }

    /// <summary>Set when the connection must be closed instead of answering (malformed or unsupported request).</summary>
    public string? CloseReason { get; set; }

    /// <summary>Keeps a storage read alive until the response holding its bytes has been written.</summary>
    public void Hold(LogReadResult read) => (_leases ??= []).Add(read);

    public void Dispose()
    {
        if (_leases is not null)
        {
            foreach (ref LogReadResult lease in CollectionsMarshal.AsSpan(_leases))
            {
                lease.Dispose();
            }

            _leases = null;
        }

        if (_frame is not null)
        {
            ArrayPool<byte>.Shared.Return(_frame);
            _frame = null;
        }
    }
}
