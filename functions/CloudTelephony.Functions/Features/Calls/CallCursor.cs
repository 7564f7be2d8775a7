using System.Globalization;
using System.Text;
using CloudTelephony.Storage;
using Microsoft.AspNetCore.WebUtilities;

namespace CloudTelephony.Functions.Calls;

/// <summary>
/// The opaque <c>cursor</c> of <c>GET /api/calls</c>: base64url of <c>v1:&lt;order&gt;:&lt;key&gt;:&lt;id&gt;</c>, the
/// <see cref="CallKey"/> of the last call of a page (order <c>d</c>, <c>a</c> or <c>u</c> for desc, asc, updated). Clients
/// pass it back unchanged; its content is no contract.
/// </summary>
public static class CallCursor
{
    /// <summary>The cursor text of <paramref name="key"/>.</summary>
    public static string Format(CallKey key)
    {
        var order = key.Order switch { CallOrder.StartedAsc => 'a', CallOrder.Written => 'u', _ => 'd' };
        var text = string.Create(CultureInfo.InvariantCulture, $"v1:{order}:{key.Key}:{key.Id}");
        return WebEncoders.Base64UrlEncode(Encoding.ASCII.GetBytes(text));
    }

    /// <summary>Reads a cursor; null when <paramref name="raw"/> is null, or (with an error under <paramref name="name"/>) not a cursor.</summary>
    public static CallKey? Parse(string? raw, string name, Dictionary<string, string[]> errors)
    {
        if (raw is null)
        {
            return null;
        }

        try
        {
            var parts = Encoding.ASCII.GetString(WebEncoders.Base64UrlDecode(raw)).Split(':');
            if (parts is ["v1", { Length: 1 } o, var k, var i] && "dau".Contains(o[0], StringComparison.Ordinal)
                && long.TryParse(k, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var key)
                && long.TryParse(i, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                var order = o[0] switch { 'a' => CallOrder.StartedAsc, 'u' => CallOrder.Written, _ => CallOrder.StartedDesc };
                return new CallKey(order, key, id);
            }
        }
        catch (FormatException)
        {
        }

        errors[name] = ["is not a cursor of this API: pass the 'next' of a previous page unchanged"];
        return null;
    }
}
