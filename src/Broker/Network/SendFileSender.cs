using System.Net.Sockets;

namespace LogBroker.Broker.Network;

/// <summary>
/// Sends one connection's buffered response bytes in a single <see cref="Socket.SendPacketsAsync"/>: copied
/// chunks as memory elements, stored record batches as file elements, which Linux sends with sendfile
/// (page cache to socket, no pass through the process's memory). Partial sends are resumed by the runtime
/// until every element is sent or the socket fails.
/// </summary>
/// <remarks>Owned by the connection's write loop (one send at a time). Each file element is a descriptor opened
/// for that send and closed after it: the segment's own handle is synchronous, which SendPacketsElement refuses.
/// The bytes sent are the ones the response's leases hold (segments are append-only below the end offset).</remarks>
internal sealed class SendFileSender : IDisposable
{
    private readonly Socket _socket;
    private readonly SocketAsyncEventArgs _args = new();
    private readonly List<SendPacketsElement> _elements = [];
    private readonly List<FileStream> _files = [];
    private TaskCompletionSource? _pending;

    public SendFileSender(Socket socket)
    {
        _socket = socket;
        _args.Completed += static (_, args) => ((SendFileSender)args.UserToken!).Completed();
        _args.UserToken = this;
    }

    /// <summary>Bytes sent by the latest send (for tests).</summary>
    public long LastSent { get; private set; }

    public void AddBuffer(ReadOnlyMemory<byte> bytes) => _elements.Add(new SendPacketsElement(bytes));

    /// <summary>
    /// Adds <paramref name="count"/> bytes of the file at <paramref name="path"/> from <paramref name="position"/>;
    /// false (and nothing added) when the file cannot be opened now (deleted by retention meanwhile).
    /// </summary>
    public bool TryAddFile(string path, long position, int count)
    {
        // Opened here, before anything is sent, so a file that is gone costs a fallback, not a half-sent response.
        // SendPacketsElement takes only a stream opened for asynchronous I/O (a new descriptor on the same file;
        // the page cache is shared with the segment's mapping).
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0, FileOptions.Asynchronous);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        _files.Add(stream);
        _elements.Add(new SendPacketsElement(stream, position, count));
        return true;
    }

    /// <summary>Drops what was added without sending it.</summary>
    public void Reset()
    {
        _elements.Clear();
        foreach (FileStream f in _files)
        {
            f.Dispose();
        }

        _files.Clear();
    }

    /// <summary>Sends everything added, in order; on cancellation (the write timeout) the socket is closed.</summary>
    public async ValueTask SendAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (_elements.Count == 0)
            {
                return;
            }

            long total = 0;
            foreach (SendPacketsElement e in _elements)
            {
                total += e.Count;
            }

            _args.SendPacketsElements = [.. _elements];
            _pending = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using (cancellationToken.UnsafeRegister(static s => ((Socket)s!).Dispose(), _socket).ConfigureAwait(false))
            {
                if (!_socket.SendPacketsAsync(_args))
                {
                    Completed();
                }

                await _pending.Task.ConfigureAwait(false);
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (_args.SocketError != SocketError.Success)
            {
                throw new SocketException((int)_args.SocketError);
            }

            LastSent = total;
        }
        finally
        {
            _args.SendPacketsElements = null;
            Reset();
        }
    }

    private void Completed() => _pending!.TrySetResult();

    public void Dispose() => _args.Dispose();
}
