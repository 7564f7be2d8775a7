using System.Globalization;
using CloudTelephony.Relay.Hosting;

namespace CloudTelephony.Relay.Ctip;

/// <summary>CTIP wire constants and the meaning of the PBX's replies (protocols/ctip.md, MANUAL p.40).</summary>
public static class CtipReplies
{
    /// <summary>The link-test frame the LAN module sends (no <c>a</c> marker); never forwarded.</summary>
    public const string LinkTest = "t";

    /// <summary>The identification command; also used as the dead-link probe.</summary>
    public const string Who = "aWHO";

    /// <summary>
    /// Demo side channel of the PBX simulator (never sent by a PBX): <c>#capture-time 2025-09-02T13:44:19.033Z</c>
    /// announces the capture's own time of the next frame; honoured only with <c>Relay:Demo:HonourCaptureTimes</c>.
    /// </summary>
    public const string CaptureTimePrefix = "#capture-time ";

    /// <summary>Prefix of the login command (<c>aLOGA &lt;key&gt;</c>).</summary>
    public const string LoginPrefix = "aLOGA ";

    /// <summary>True for a positive reply (<c>aOK</c> ...).</summary>
    public static bool IsOk(string line) => line == "aOK" || line.StartsWith("aOK ", StringComparison.Ordinal);

    /// <summary>True for a reply to a command (<c>aOK</c>, <c>aNA</c>, <c>aNAK</c>, <c>aERROR</c>) as opposed to an event.</summary>
    public static bool IsReply(string line) =>
        IsOk(line) || line == "aNA" || line.StartsWith("aNA ", StringComparison.Ordinal) || line == "aNAK"
        || line.StartsWith("aNAK ", StringComparison.Ordinal) || line.StartsWith("aERROR", StringComparison.Ordinal);

    /// <summary>The meaning of a NA code, e.g. 11 → <c>wrong key</c>.</summary>
    public static string DescribeNaCode(int code) => code switch
    {
        1 => "not logged in",
        11 => "wrong key",
        12 => "no key",
        19 => "CTI not permitted",
        20 => "too many bad-key attempts",
        _ => "refused",
    };

    /// <summary>
    /// Describes a negative login reply for logs and status: <c>aNA 11</c> → <c>wrong key (NA 11)</c>, <c>aNAK</c> →
    /// <c>refused (NAK)</c>, <c>aERROR</c> → <c>syntax error (ERROR)</c>; anything else is quoted.
    /// </summary>
    public static string DescribeRefusal(string reply)
    {
        if (reply == "aNA")
        {
            return "refused (NA)";
        }

        if (reply.StartsWith("aNA ", StringComparison.Ordinal))
        {
            var arg = reply[4..].Trim();
            return int.TryParse(arg, NumberStyles.None, CultureInfo.InvariantCulture, out var code)
                ? $"{DescribeNaCode(code)} (NA {code})"
                : $"refused (NA {arg})";
        }

        if (reply == "aNAK" || reply.StartsWith("aNAK ", StringComparison.Ordinal))
        {
            return "refused (NAK)";
        }

        if (reply.StartsWith("aERROR", StringComparison.Ordinal))
        {
            return "syntax error (ERROR)";
        }

        return $"unexpected answer '{(reply.Length > 60 ? reply[..60] + "…" : reply)}'";
    }
}

/// <summary>The PBX refused the login (NA, NAK, ERROR or no answer in time); reconnecting waits long.</summary>
public sealed class CtipLoginRefusedException(string reason) : LoginRefusedException(reason);

/// <summary>The TCP session failed: connect error, closed by the PBX, dead link, protocol violation.</summary>
public sealed class CtipConnectionException(string message, Exception? inner = null) : Exception(message, inner);
