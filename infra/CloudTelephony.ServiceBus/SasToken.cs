using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Web;

namespace CloudTelephony.ServiceBus;

/// <summary>
/// Shared Access Signature tokens for Service Bus (learn.microsoft.com service-bus-sas):
/// <c>SharedAccessSignature sr={UrlEncode(uri)}&amp;sig={UrlEncode(Base64(HMACSHA256(key, UrlEncode(uri) + "\n" + se)))}&amp;se={se}&amp;skn={keyName}</c>.
/// </summary>
public static class SasToken
{
    /// <summary>Builds a token for <paramref name="resourceUri"/> (e.g. <c>https://ns.servicebus.windows.net/pbx-frames</c>) valid until <paramref name="expiresAt"/>.</summary>
    /// <param name="resourceUri">The resource the token grants access to.</param>
    /// <param name="keyName">The SAS policy name (<c>skn</c>).</param>
    /// <param name="key">The SAS key as configured (the base64 text is used as-is as UTF-8 key bytes, as the service does).</param>
    /// <param name="expiresAt">Expiry; written as Unix seconds (<c>se</c>).</param>
    public static string Create(string resourceUri, string keyName, string key, DateTimeOffset expiresAt)
    {
        ArgumentException.ThrowIfNullOrEmpty(resourceUri);
        ArgumentException.ThrowIfNullOrEmpty(keyName);
        ArgumentException.ThrowIfNullOrEmpty(key);
        var encoded = HttpUtility.UrlEncode(resourceUri);
        var se = expiresAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var sig = Sign(key, encoded + "\n" + se);
        return $"SharedAccessSignature sr={encoded}&sig={HttpUtility.UrlEncode(sig)}&se={se}&skn={keyName}";
    }

    /// <summary>Base64 of HMAC-SHA256 over UTF-8 <paramref name="stringToSign"/> with the UTF-8 bytes of <paramref name="key"/>.</summary>
    public static string Sign(string key, string stringToSign) =>
        Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(stringToSign)));
}
