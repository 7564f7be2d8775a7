using System.Security.Cryptography;
using System.Text;
using CloudTelephony.Functions.Hosting;

namespace CloudTelephony.Functions.Events;

/// <summary>
/// The per-webhook signing secrets: made at random, shown once, stored encrypted with AES-256-GCM under
/// <see cref="EventOptions.WebhookKey"/> (the dispatcher must read them to sign, so a hash would not do), and the
/// <c>X-CloudTelephony-Signature</c> header: <c>sha256=</c> + lower-case hex HMAC-SHA256 of the raw body.
/// </summary>
public sealed class WebhookSecrets
{
    /// <summary>The signature header.</summary>
    public const string SignatureHeader = "X-CloudTelephony-Signature";

    private readonly byte[]? _key;

    /// <summary>Reads the key.</summary>
    /// <exception cref="ConfigException"><see cref="EventOptions.WebhookKey"/> is set but not 32 bytes of base64.</exception>
    public WebhookSecrets(EventOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.WebhookKey))
        {
            return;
        }

        try
        {
            _key = Convert.FromBase64String(options.WebhookKey.Trim());
        }
        catch (FormatException)
        {
            _key = null;
        }

        if (_key is not { Length: 32 })
        {
            throw new ConfigException("setting Events:WebhookKey (env Events__WebhookKey) must be 32 bytes in base64 (openssl rand -base64 32)");
        }
    }

    /// <summary>Whether a key is configured.</summary>
    public bool HasKey => _key is not null;

    /// <summary>A new random secret: <c>whsec_</c> + 32 random bytes in base64url.</summary>
    public static string NewSecret() => "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Encrypts a secret: base64 of nonce (12) | tag (16) | ciphertext.</summary>
    /// <exception cref="InvalidOperationException">No key configured.</exception>
    public string Protect(string secret)
    {
        var key = _key ?? throw NoKey();
        var plain = Encoding.UTF8.GetBytes(secret);
        var nonce = RandomNumberGenerator.GetBytes(12);
        var tag = new byte[16];
        var cipher = new byte[plain.Length];
        using var aes = new AesGcm(key, 16);
        aes.Encrypt(nonce, plain, cipher, tag);
        return Convert.ToBase64String([.. nonce, .. tag, .. cipher]);
    }

    /// <summary>Decrypts a stored secret.</summary>
    /// <exception cref="InvalidOperationException">No key configured.</exception>
    /// <exception cref="CryptographicException">The key is not the one the secret was stored with.</exception>
    public string Unprotect(string stored)
    {
        var key = _key ?? throw NoKey();
        var all = Convert.FromBase64String(stored);
        var plain = new byte[all.Length - 28];
        using var aes = new AesGcm(key, 16);
        aes.Decrypt(all.AsSpan(0, 12), all.AsSpan(28), all.AsSpan(12, 16), plain);
        return Encoding.UTF8.GetString(plain);
    }

    /// <summary>The header value for <paramref name="body"/>: <c>sha256=</c> + hex HMAC-SHA256 with <paramref name="secret"/>.</summary>
    public static string Sign(string secret, ReadOnlySpan<byte> body)
        => "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    private static InvalidOperationException NoKey()
        => new("no webhook key: set Events__WebhookKey to 32 random bytes in base64 (openssl rand -base64 32)");
}
