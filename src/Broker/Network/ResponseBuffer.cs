using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.Storage;

namespace LogBroker.Broker.Network;

/// <summary>
/// The bytes of a connection's encoded responses waiting to be sent: encoded fields copied into pooled
/// 64 KiB chunks, and stored record batches (runs of at least <see cref="SpliceThreshold"/> bytes inside
/// a lease the response holds) left in the segment's mapped memory and sent from there, in place, so a
/// fetch response never has a heap copy of its records.
/// </summary>
/// <remarks>
/// Memory: the copied part of one response is its fields plus the record runs shorter than the threshold,
/// so at most the response's size and, for Fetch, at most <see cref="BrokerOptions.FetchMaxBytes"/>;
/// the connection sends once <see cref="BrokerOptions.MaxResponseBufferBytes"/> are buffered.
/// Not thread-safe: owned by the connection's write loop. Chunk memory never moves once handed out, so a
/// size prefix reserved with <see cref="KafkaWriter.Reserve"/> can be filled in last.
/// </remarks>
internal sealed class ResponseBuffer : IBufferWriter<byte>, IRawSplicer, IDisposable
{
    /// <summary>Record runs at least this long are sent from the segment; shorter ones are copied (a send each would cost more).</summary>
    public const int SpliceThreshold = 8 * 1024;

    private const int ChunkSize = 64 * 1024;

    private readonly List<byte[]> _chunks = [];
    private readonly List<ReadOnlyMemory<byte>> _segments = [];
    private byte[]? _current;
    private int _used;
    private int _cut;
    private RequestContext? _context;
    private int _spliced; // segment count right after the latest splice

    /// <summary>Bytes buffered (copied and spliced).</summary>
    public long Length { get; private set; }

    public int MinimumLength => SpliceThreshold;

    /// <summary>Bytes copied into chunks so far (the rest of <see cref="Length"/> is spliced).</summary>
    public long CopiedBytes { get; private set; }

    /// <summary>
    /// Encodes the response of <paramref name="context"/> (size prefix, header, body) after what is buffered,
    /// splicing runs of the reads it holds. When encoding throws (a value that does not fit its wire type),
    /// nothing of this response stays buffered and the exception goes to the caller. Returns whether any
    /// of it was spliced: only then must the context (its leases) live until the buffer has been sent.
    /// </summary>
    public bool Append(RequestContext context)
    {
        int segments = _segments.Count;
        var mark = new Mark(_chunks.Count, _segments.Count, _used, _cut, Length, CopiedBytes);
        _context = context;
        try
        {
            var writer = new KafkaWriter(this, this);
            Span<byte> size = writer.Reserve(4);
            long start = writer.Written;
            ApiMessages.WriteResponseHeader(ref writer, context.ApiKey, context.ResponseVersion, context.Header.CorrelationId);
            context.Response!.Write(ref writer, context.ResponseVersion);
            long length = writer.Written - start;
            if (length > int.MaxValue)
            {
                throw new InvalidOperationException($"The response is {length} bytes, over a frame's limit.");
            }

            BinaryPrimitives.WriteInt32BigEndian(size, (int)length);
            writer.Commit();
            return _spliced > segments;
        }
        catch
        {
            Rollback(mark);
            throw;
        }
        finally
        {
            _context = null;
        }
    }

    private readonly record struct Mark(int Chunks, int Segments, int Used, int Cut, long Length, long Copied);

    private void Rollback(Mark mark)
    {
        while (_chunks.Count > mark.Chunks)
        {
            ArrayPool<byte>.Shared.Return(_chunks[^1]);
            _chunks.RemoveAt(_chunks.Count - 1);
        }

        _segments.RemoveRange(mark.Segments, _segments.Count - mark.Segments);
        _spliced = Math.Min(_spliced, mark.Segments);
        _current = _chunks.Count == 0 ? null : _chunks[^1];
        _used = mark.Used;
        _cut = mark.Cut;
        Length = mark.Length;
        CopiedBytes = mark.Copied;
    }

    public void Advance(int count)
    {
        _used += count;
        Length += count;
        CopiedBytes += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        sizeHint = Math.Max(sizeHint, 1);
        if (_current is null || _current.Length - _used < sizeHint)
        {
            CutCurrent();
            _current = ArrayPool<byte>.Shared.Rent(Math.Max(sizeHint, ChunkSize));
            _chunks.Add(_current);
            _used = 0;
            _cut = 0;
        }

        return _current.AsMemory(_used);
    }

    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public bool TrySplice(ReadOnlySpan<byte> bytes)
    {
        if (_context is null || !_context.TryFindHeld(bytes, out ReadOnlyMemory<byte> held))
        {
            return false;
        }

        CutCurrent();
        _segments.Add(held);
        _spliced = _segments.Count;
        Length += bytes.Length;
        return true;
    }

    /// <summary>
    /// Send stored record batches with sendfile when the transport is a plain socket (<see cref="BrokerOptions.SendFile"/>);
    /// a TLS stream (or any other) is always written from the mapping.
    /// </summary>
    public bool SendFile { get; init; }

    private SendFileSender? _sendFile;

    /// <summary>Sends everything buffered, in order, then empties the buffer.</summary>
    public async ValueTask SendAsync(Stream transport, CancellationToken cancellationToken)
    {
        CutCurrent();
        if (SendFile && transport is NetworkStream network && _spliced > 0 &&
            await TrySendWithFileAsync(network.Socket, cancellationToken).ConfigureAwait(false))
        {
            Clear();
            return;
        }

        foreach (ReadOnlyMemory<byte> segment in _segments)
        {
            await transport.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
        }

        await transport.FlushAsync(cancellationToken).ConfigureAwait(false);
        Clear();
    }

    // One SendPackets call: copied chunks as memory, spliced runs as (file, position, count) for sendfile.
    // False (nothing sent) when a segment file cannot be opened: the caller writes from the mapping instead.
    private async ValueTask<bool> TrySendWithFileAsync(Socket socket, CancellationToken cancellationToken)
    {
        _sendFile ??= new SendFileSender(socket);
        foreach (ReadOnlyMemory<byte> segment in _segments)
        {
            if (!StoredFileRegion.TryGet(segment, out string? path, out long position))
            {
                _sendFile.AddBuffer(segment);
            }
            else if (!_sendFile.TryAddFile(path, position, segment.Length))
            {
                _sendFile.Reset();
                return false;
            }
        }

        await _sendFile.SendAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Bytes the latest sendfile send sent (0 when none went that way; for tests).</summary>
    internal long LastSentWithFile => _sendFile?.LastSent ?? 0;

    public void Dispose()
    {
        Clear();
        _sendFile?.Dispose();
    }

    private void CutCurrent()
    {
        if (_current is not null && _used > _cut)
        {
            _segments.Add(_current.AsMemory(_cut, _used - _cut));
            _cut = _used;
        }
    }

    private void Clear()
    {
        foreach (byte[] chunk in _chunks)
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        _chunks.Clear();
        _segments.Clear();
        _current = null;
        _used = _cut = 0;
        _spliced = 0;
        Length = 0;
        CopiedBytes = 0;
        _context = null;
    }
}
