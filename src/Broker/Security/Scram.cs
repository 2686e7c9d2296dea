using System.Security.Cryptography;
using System.Text;

namespace LogBroker.Broker.Security;

/// <summary>A SCRAM mechanism (RFC 5802 with RFC 7677's hashes) and its key derivations.</summary>
internal sealed class ScramMechanism
{
    /// <summary>RFC 7677's minimum and Kafka's: fewer iterations are refused.</summary>
    public const int MinIterations = 4096;

    /// <summary>Kafka's maximum: more are refused (a credential costs this many HMACs per login).</summary>
    public const int MaxIterations = 16384;

    public static readonly ScramMechanism Sha256 = new("SCRAM-SHA-256", 1, HashAlgorithmName.SHA256, 32);
    public static readonly ScramMechanism Sha512 = new("SCRAM-SHA-512", 2, HashAlgorithmName.SHA512, 64);

    private ScramMechanism(string name, sbyte type, HashAlgorithmName hash, int size)
    {
        Name = name;
        Type = type;
        Hash = hash;
        HashSize = size;
    }

    /// <summary>The SASL mechanism name.</summary>
    public string Name { get; }

    /// <summary>Kafka's ScramMechanism type byte in DescribeUserScramCredentials/AlterUserScramCredentials (1, 2).</summary>
    public sbyte Type { get; }

    public HashAlgorithmName Hash { get; }

    public int HashSize { get; }

    public static ScramMechanism? FromName(string name) => name switch
    {
        "SCRAM-SHA-256" => Sha256,
        "SCRAM-SHA-512" => Sha512,
        _ => null,
    };

    public static ScramMechanism? FromType(sbyte type) => type switch
    {
        1 => Sha256,
        2 => Sha512,
        _ => null,
    };

    /// <summary>Hi(password, salt, i): PBKDF2 with HMAC of this hash. The password is UTF-8 as given (as Kafka's clients send it).</summary>
    public byte[] SaltedPassword(string password, ReadOnlySpan<byte> salt, int iterations) =>
        Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, Hash, HashSize);

    public byte[] Hmac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data) =>
        Hash == HashAlgorithmName.SHA256 ? HMACSHA256.HashData(key, data) : HMACSHA512.HashData(key, data);

    public byte[] Digest(ReadOnlySpan<byte> data) =>
        Hash == HashAlgorithmName.SHA256 ? SHA256.HashData(data) : SHA512.HashData(data);

    /// <summary>The stored form of a salted password: StoredKey = H(HMAC(SP, "Client Key")), ServerKey = HMAC(SP, "Server Key").</summary>
    public ScramCredential Credential(ReadOnlySpan<byte> salt, ReadOnlySpan<byte> saltedPassword, int iterations)
    {
        byte[] clientKey = Hmac(saltedPassword, "Client Key"u8);
        byte[] stored = Digest(clientKey);
        CryptographicOperations.ZeroMemory(clientKey);
        return new ScramCredential(salt.ToArray(), iterations, stored, Hmac(saltedPassword, "Server Key"u8));
    }

    /// <summary>A credential for <paramref name="password"/> with a fresh random salt.</summary>
    public ScramCredential Create(string password, int iterations)
    {
        byte[] salt = RandomNumberGenerator.GetBytes(32);
        byte[] salted = SaltedPassword(password, salt, iterations);
        try
        {
            return Credential(salt, salted, iterations);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(salted);
        }
    }

    /// <summary>Whether <paramref name="password"/> matches <paramref name="credential"/> (for PLAIN); constant time in the compare.</summary>
    public bool Verify(string password, ScramCredential credential)
    {
        byte[] salted = SaltedPassword(password, credential.Salt, credential.Iterations);
        byte[] clientKey = Hmac(salted, "Client Key"u8);
        byte[] stored = Digest(clientKey);
        CryptographicOperations.ZeroMemory(salted);
        CryptographicOperations.ZeroMemory(clientKey);
        return CryptographicOperations.FixedTimeEquals(stored, credential.StoredKey);
    }
}

/// <summary>What is stored of a SCRAM password: never the password or the salted password.</summary>
internal sealed record ScramCredential(byte[] Salt, int Iterations, byte[] StoredKey, byte[] ServerKey);

/// <summary>User names: SASLprep as far as the BCL allows, and SCRAM's <c>=2C</c>/<c>=3D</c> escaping.</summary>
internal static class ScramNames
{
    /// <summary>User names longer than this (UTF-8 bytes) are refused.</summary>
    public const int MaxNameBytes = 256;

    /// <summary>
    /// The name as stored and compared: NFKC-normalized (RFC 4013's mapping step), without control
    /// characters, not empty, at most <see cref="MaxNameBytes"/>; null when it is not acceptable.
    /// </summary>
    public static string? Prepare(string name)
    {
        if (name.Length == 0 || name.Length > MaxNameBytes)
        {
            return null;
        }

        string normalized;
        try
        {
            normalized = name.IsNormalized(NormalizationForm.FormKC) ? name : name.Normalize(NormalizationForm.FormKC);
        }
        catch (Exception e) when (e is ArgumentException or PlatformNotSupportedException)
        {
            return null; // invalid UTF-16 (lone surrogates)
        }

        foreach (char c in normalized)
        {
            // RFC 4013 prohibits control characters, private use and unassigned code points; the BCL tells us the first two.
            if (char.IsControl(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.PrivateUse)
            {
                return null;
            }
        }

        return normalized.Length == 0 || Encoding.UTF8.GetByteCount(normalized) > MaxNameBytes ? null : normalized;
    }

    /// <summary>saslname → name: <c>=2C</c> is ',', <c>=3D</c> is '='; any other '=' is malformed (null).</summary>
    public static string? Unescape(ReadOnlySpan<char> saslName)
    {
        var builder = new StringBuilder(saslName.Length);
        for (int i = 0; i < saslName.Length; i++)
        {
            char c = saslName[i];
            if (c == ',')
            {
                return null;
            }

            if (c == '=')
            {
                if (i + 2 >= saslName.Length)
                {
                    return null;
                }

                ReadOnlySpan<char> code = saslName.Slice(i + 1, 2);
                if (code.SequenceEqual("2C"))
                {
                    builder.Append(',');
                }
                else if (code.SequenceEqual("3D"))
                {
                    builder.Append('=');
                }
                else
                {
                    return null;
                }

                i += 2;
                continue;
            }

            builder.Append(c);
        }

        return builder.ToString();
    }

    /// <summary>name → saslname.</summary>
    public static string Escape(string name) => name.Replace("=", "=3D", StringComparison.Ordinal).Replace(",", "=2C", StringComparison.Ordinal);
}
