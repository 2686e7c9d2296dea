using System.Buffers;
using System.Runtime.InteropServices;
using LogBroker.Protocol.Messages;
using LogBroker.Storage;

namespace LogBroker.Broker.Network;

/// <summary>
/// One request on its way through the broker: the frame, the parsed header, and what the handler
/// answered. Owned by the connection; disposed after the response has been sent, which gives back the
/// frame buffer, the storage leases the response read from, and the frame's share of the broker's
/// <see cref="MemoryBudget"/>.
/// </summary>
internal sealed class RequestContext : IDisposable
{
    /// <summary>Frames up to this size come from the shared pool; larger ones are allocated and left to the GC, so a burst of huge requests does not stay pooled.</summary>
    public const int PooledFrameLimit = 1024 * 1024;

    private byte[]? _frame;
    private List<LogReadResult>? _leases;
    private int _nextLease;
    private MemoryBudget? _budget;
    private long _reserved;

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

    /// <summary>
    /// Cancelled when the connection is closing (the peer left, a timeout, or shutdown): a parked
    /// request stops waiting and answers with what it has.
    /// </summary>
    public CancellationToken Closing { get; init; }

    /// <summary>The decoded request (set once decoded; its byte fields point into <see cref="Frame"/>).</summary>
    public IKafkaMessage? Request { get; set; }
    /// <summary>The connection's security state (listener, principal, SASL); null for connections made without one (tests).</summary>
    public Security.ConnectionSession? Session { get; init; }

    /// <summary>The listener the request came in on (its advertised endpoint goes into Metadata); null when not known.</summary>
    public Security.ListenerInfo? Listener => Session?.Listener;

    /// <summary>The response to write, or null for none (acks=0 produce).</summary>
    public IKafkaMessage? Response { get; set; }

    /// <summary>A raw SASL token to send as the answer (size-prefixed, no header: the SaslHandshake v0 exchange).</summary>
    public byte[]? RawResponse { get; set; }

    /// <summary>The version to encode the response in (differs from the request's only for the ApiVersions v0 fallback).</summary>
    public short ResponseVersion { get; set; }

    /// <summary>
    /// Milliseconds the client is over its quota: once this response is sent, the connection reads nothing
    /// more for that long (KIP-219). 0 when no quota applies.
    /// </summary>
    public int ThrottleMs { get; set; }

    /// <summary>Set when the connection must be closed instead of answering (malformed or unsupported request).</summary>
    public string? CloseReason { get; set; }

    /// <summary>Rents a frame buffer of at least <paramref name="size"/> bytes (see <see cref="PooledFrameLimit"/>).</summary>
    public static byte[] RentFrame(int size) =>
        size <= PooledFrameLimit ? ArrayPool<byte>.Shared.Rent(size) : GC.AllocateUninitializedArray<byte>(size);

    /// <summary>Makes this request own <paramref name="bytes"/> reserved from <paramref name="budget"/> until disposed.</summary>
    public void OwnReservation(MemoryBudget budget, long bytes)
    {
        _budget = budget;
        _reserved = bytes;
    }

    /// <summary>Keeps a storage read alive until the response holding its bytes has been written.</summary>
    public void Hold(LogReadResult read) => (_leases ??= []).Add(read);

    /// <summary>
    /// Keeps storage reads alive until the response holding their bytes has been written. The request takes the
    /// list itself (no copy): the caller must not use it afterwards.
    /// </summary>
    public void Hold(List<LogReadResult> reads)
    {
        if (_leases is null)
        {
            _leases = reads;
        }
        else
        {
            _leases.AddRange(reads);
        }
    }

    /// <summary>
    /// Finds <paramref name="bytes"/> inside the records of a read this request holds, so the response
    /// writer can send them from the segment instead of copying them.
    /// </summary>
    public bool TryFindHeld(ReadOnlySpan<byte> bytes, out ReadOnlyMemory<byte> held)
    {
        if (_leases is not null)
        {
            // A response writes its records in the order they were read, so the search starts at the lease
            // after the last one found: one probe per splice, not one per lease held.
            Span<LogReadResult> leases = CollectionsMarshal.AsSpan(_leases);
            for (int i = 0; i < leases.Length; i++)
            {
                int at = (_nextLease + i) % leases.Length;
                ReadOnlyMemory<byte> records = leases[at].Records;
                if (records.Span.Overlaps(bytes, out int offset) && offset >= 0 && offset + bytes.Length <= records.Length)
                {
                    _nextLease = at + 1;
                    held = records.Slice(offset, bytes.Length);
                    return true;
                }
            }
        }

        held = default;
        return false;
    }

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
            if (_frame.Length <= PooledFrameLimit)
            {
                ArrayPool<byte>.Shared.Return(_frame);
            }

            _frame = null;
        }

        if (_budget is not null)
        {
            _budget.Release(_reserved);
            _budget = null;
        }
    }
}
