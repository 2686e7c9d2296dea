using System.Buffers;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;

namespace LogBroker.Client.Network;

/// <summary>
/// A response frame in a pooled buffer: correlation id, header tagged fields, then the body. Disposing
/// returns the buffer; a frame shared by several readers (a fetch response's batches) is reference counted.
/// </summary>
internal sealed class ResponseFrame : IDisposable
{
    private byte[]? _buffer;
    private readonly int _length;
    private int _bodyOffset;
    private int _references = 1;
    private ApiKey _key;
    private short _version;

    public ResponseFrame(byte[] buffer, int length)
    {
        _buffer = buffer;
        _length = length;
    }

    /// <summary>The response body (after the header).</summary>
    public ReadOnlyMemory<byte> Body => (_buffer ?? throw new ObjectDisposedException(nameof(ResponseFrame))).AsMemory(_bodyOffset, _length - _bodyOffset);

    internal void SetBody(bool headerHasTaggedFields, ApiKey key, short version)
    {
        _key = key;
        _version = version;
        _bodyOffset = 4;
        if (headerHasTaggedFields)
        {
            var reader = new KafkaReader(_buffer.AsSpan(4, _length - 4));
            reader.SkipTaggedFields();
            _bodyOffset = reader.Failed ? _length : 4 + reader.Position;
        }
    }

    /// <summary>Parses the body; byte fields are copies, so the frame may be disposed afterwards.</summary>
    public TResponse Parse<TResponse>()
        where TResponse : IKafkaMessage, new()
    {
        var response = new TResponse();
        var reader = new KafkaReader(Body.Span);
        response.Read(ref reader, _version);
        return reader.Failed
            ? throw new KafkaException(ErrorCode.CorruptMessage, $"Malformed {_key} v{_version} response.")
            : response;
    }

    /// <summary>Parses the body with byte fields as slices of this frame (keep the frame alive while they are used).</summary>
    public TResponse ParseZeroCopy<TResponse>()
        where TResponse : IKafkaMessage, new()
    {
        var response = new TResponse();
        var reader = new KafkaReader(Body);
        response.Read(ref reader, _version);
        return reader.Failed
            ? throw new KafkaException(ErrorCode.CorruptMessage, $"Malformed {_key} v{_version} response.")
            : response;
    }

    /// <summary>Adds a reference; each holder calls <see cref="Dispose"/> once.</summary>
    public void AddReference() => Interlocked.Increment(ref _references);

    public void Dispose()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            byte[]? buffer = Interlocked.Exchange(ref _buffer, null);
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}
