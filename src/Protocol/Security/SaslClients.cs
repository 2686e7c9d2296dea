using System.Security.Cryptography;
using System.Text;

namespace LogBroker.Protocol.Security;

/// <summary>The client side of a SASL exchange.</summary>
internal interface ISaslClient
{
    byte[] First();

    /// <summary>The next token, or null when done; <paramref name="error"/> set when the server's answer is not acceptable.</summary>
    byte[]? Next(ReadOnlySpan<byte> challenge, out string? error);
}

internal sealed class PlainClient(string user, string password) : ISaslClient
{
    public byte[] First() => Encoding.UTF8.GetBytes("\0" + user + "\0" + password);

    public byte[]? Next(ReadOnlySpan<byte> challenge, out string? error)
    {
        error = null;
        return null;
    }
}

/// <summary>SCRAM-SHA-256/512 client (RFC 5802/7677): checks the server's nonce, bounds its iterations, verifies its signature.</summary>
internal sealed class ScramClient : ISaslClient
{
    private readonly HashAlgorithmName _hash;
    private readonly int _size;
    private readonly string _user;
    private readonly string _password;
    private readonly string _clientNonce;
    private string? _clientFirstBare;
    private byte[]? _serverSignature;
    private int _step;

    public ScramClient(string mechanism, string user, string password, string? nonce = null)
    {
        (_hash, _size) = mechanism == "SCRAM-SHA-512" ? (HashAlgorithmName.SHA512, 64) : (HashAlgorithmName.SHA256, 32);
        _user = user;
        _password = password;
        _clientNonce = nonce ?? Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
    }

    public byte[] First()
    {
        _clientFirstBare = $"n={user(_user)},r={_clientNonce}";
        return Encoding.UTF8.GetBytes("n,," + _clientFirstBare);

        static string user(string name) => name.Replace("=", "=3D", StringComparison.Ordinal).Replace(",", "=2C", StringComparison.Ordinal);
    }

    public byte[]? Next(ReadOnlySpan<byte> challenge, out string? error)
    {
        error = null;
        string message = Encoding.UTF8.GetString(challenge);
        if (_step++ == 0)
        {
            return Final(message, out error);
        }

        if (_step == 2)
        {
            // server-final-message: v=signature (or e=error)
            if (!message.StartsWith("v=", StringComparison.Ordinal))
            {
                error = "the broker's SCRAM final message has no signature.";
                return null;
            }

            byte[] signature;
            try
            {
                signature = Convert.FromBase64String(message[2..]);
            }
            catch (FormatException)
            {
                error = "the broker's SCRAM signature is malformed.";
                return null;
            }

            if (!CryptographicOperations.FixedTimeEquals(signature, _serverSignature))
            {
                error = "the broker's SCRAM signature is wrong (it does not know the password).";
            }

            return null;
        }

        error = "unexpected SCRAM message.";
        return null;
    }

    private byte[]? Final(string serverFirst, out string? error)
    {
        error = null;
        string? nonce = null, salt = null, iterations = null;
        foreach (string part in serverFirst.Split(','))
        {
            if (part.StartsWith("r=", StringComparison.Ordinal))
            {
                nonce = part[2..];
            }
            else if (part.StartsWith("s=", StringComparison.Ordinal))
            {
                salt = part[2..];
            }
            else if (part.StartsWith("i=", StringComparison.Ordinal))
            {
                iterations = part[2..];
            }
            else if (part.StartsWith("m=", StringComparison.Ordinal) || part.StartsWith("e=", StringComparison.Ordinal))
            {
                error = $"the broker answered '{part}'.";
                return null;
            }
        }

        if (nonce is null || salt is null || iterations is null || !nonce.StartsWith(_clientNonce, StringComparison.Ordinal) || nonce.Length == _clientNonce.Length)
        {
            error = "the broker's SCRAM first message is malformed or has a wrong nonce.";
            return null;
        }

        if (!int.TryParse(iterations, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int count)
            || count < 1 || count > SaslExchange.MaxScramIterations)
        {
            error = $"the broker asks for {iterations} SCRAM iterations (at most {SaslExchange.MaxScramIterations} are done).";
            return null;
        }

        byte[] saltBytes;
        try
        {
            saltBytes = Convert.FromBase64String(salt);
        }
        catch (FormatException)
        {
            error = "the broker's SCRAM salt is malformed.";
            return null;
        }

        byte[] salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(_password), saltBytes, count, _hash, _size);
        byte[] clientKey = Hmac(salted, "Client Key"u8);
        byte[] storedKey = _hash == HashAlgorithmName.SHA512 ? SHA512.HashData(clientKey) : SHA256.HashData(clientKey);
        string withoutProof = $"c=biws,r={nonce}";
        byte[] authMessage = Encoding.UTF8.GetBytes($"{_clientFirstBare},{serverFirst},{withoutProof}");
        byte[] clientSignature = Hmac(storedKey, authMessage);
        for (int i = 0; i < clientKey.Length; i++)
        {
            clientKey[i] ^= clientSignature[i];
        }

        _serverSignature = Hmac(Hmac(salted, "Server Key"u8), authMessage);
        CryptographicOperations.ZeroMemory(salted);
        return Encoding.UTF8.GetBytes($"{withoutProof},p={Convert.ToBase64String(clientKey)}");
    }

    private byte[] Hmac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data) =>
        _hash == HashAlgorithmName.SHA512 ? HMACSHA512.HashData(key, data) : HMACSHA256.HashData(key, data);
}
