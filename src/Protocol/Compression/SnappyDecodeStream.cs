using System.Buffers;
using System.Buffers.Binary;
using Snappier;

namespace LogBroker.Protocol.Compression;

/// <summary>
/// A read-only stream decoding snappy in snappy-java's xerial framing (or one raw snappy block) block by
/// block, so a reader sees the decompressed bytes without the whole output ever being held at once.
/// Each block's declared length is checked against what is left of <c>maxOutputBytes</c> before its
/// buffer (pooled) is taken. Reads the source through a pointer: the caller keeps it pinned for the
/// stream's lifetime.
/// </summary>
internal sealed unsafe class SnappyDecodeStream : Stream
{
    private readonly byte* _source;
    private readonly int _length;
    private readonly long _maxOutputBytes;
    private int _position;
    private long _produced;
    private byte[]? _block;
    private int _blockStart;
    private int _blockEnd;

    public SnappyDecodeStream(byte* source, int length, long maxOutputBytes)
    {
        _source = source;
        _length = length;
        _maxOutputBytes = maxOutputBytes;
        ReadOnlySpan<byte> all = new(source, length);
        if (all.StartsWith(CompressionCodecs.XerialMagic))
        {
            if (length < CompressionCodecs.XerialHeaderSize)
            {
                throw new InvalidDataException("Truncated xerial snappy header.");
            }

            IsXerial = true;
            _position = CompressionCodecs.XerialHeaderSize;
        }
    }

    /// <summary>True when the input carries the xerial header (false: one raw snappy block).</summary>
    public bool IsXerial { get; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => _produced; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_blockStart == _blockEnd && !NextBlock())
        {
            return 0;
        }

        int n = Math.Min(buffer.Length, _blockEnd - _blockStart);
        _block.AsSpan(_blockStart, n).CopyTo(buffer);
        _blockStart += n;
        return n;
    }

    private bool NextBlock()
    {
        ReadOnlySpan<byte> rest = new(_source + _position, _length - _position);
        if (rest.IsEmpty)
        {
            return false;
        }

        ReadOnlySpan<byte> block;
        if (IsXerial)
        {
            if (rest.Length < 4)
            {
                throw new InvalidDataException("Truncated xerial snappy block length.");
            }

            int length = BinaryPrimitives.ReadInt32BigEndian(rest);
            if (length < 0 || length > rest.Length - 4)
            {
                throw new InvalidDataException("Xerial snappy block longer than its input.");
            }

            block = rest.Slice(4, length);
            _position += 4 + length;
        }
        else
        {
            block = rest;
            _position = _length;
        }

        int size = Snappy.GetUncompressedLength(block);
        if (size < 0 || size > _maxOutputBytes - _produced)
        {
            throw new DecompressionLimitException();
        }

        if (_block is null || _block.Length < size)
        {
            ReturnBlock();
            _block = ArrayPool<byte>.Shared.Rent(Math.Max(size, 1));
        }

        if (!Snappy.TryDecompress(block, _block.AsSpan(0, size), out int written) || written != size)
        {
            throw new InvalidDataException("Malformed snappy block.");
        }

        _produced += size;
        _blockStart = 0;
        _blockEnd = size;
        return size > 0 || NextBlock();
    }

    private void ReturnBlock()
    {
        if (_block is not null)
        {
            ArrayPool<byte>.Shared.Return(_block);
            _block = null;
        }
    }

    protected override void Dispose(bool disposing)
    {
        ReturnBlock();
        base.Dispose(disposing);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>A decoder was asked for more output than its limit allows.</summary>
internal sealed class DecompressionLimitException() : IOException("The data decompresses to more than the limit.");
