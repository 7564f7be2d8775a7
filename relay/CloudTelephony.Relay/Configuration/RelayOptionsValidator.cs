using System.Net;
using CloudTelephony.Contracts;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Relay.Configuration;

/// <summary>Checks <see cref="RelayOptions"/> at start; every failure message names the configuration key.</summary>
public sealed class RelayOptionsValidator : IValidateOptions<RelayOptions>
{
    /// <summary>Protocols this relay has a connector for.</summary>
    public static readonly IReadOnlyList<string> SupportedProtocols = [Protocols.Ctip, Protocols.Ami, Protocols.Smdr];

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, RelayOptions options)
    {
        var errors = Check(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Returns the problems of <paramref name="o"/>, empty when the configuration is usable.</summary>
    public static IReadOnlyList<string> Check(RelayOptions o)
    {
        var errors = new List<string>();
        const string s = RelayOptions.SectionName;
        if (string.IsNullOrWhiteSpace(o.RelayId))
        {
            errors.Add($"{s}:RelayId is empty");
        }

        var f = o.Forwarder;
        var http = string.Equals(o.Transport, RelayOptions.HttpTransport, StringComparison.OrdinalIgnoreCase);
        var bus = string.Equals(o.Transport, RelayOptions.ServiceBusTransport, StringComparison.OrdinalIgnoreCase);
        if (!http && !bus)
        {
            errors.Add($"{s}:Transport '{o.Transport}' is unknown (expected {RelayOptions.ServiceBusTransport} or {RelayOptions.HttpTransport})");
        }

        if (bus)
        {
            errors.AddRange(o.ServiceBus.Check($"{s}:ServiceBus"));
        }

        // the HTTP target is checked only when it is used
        if (http && string.IsNullOrWhiteSpace(f.Url))
        {
            errors.Add($"{s}:Forwarder:Url is missing");
        }
        else if (http && (!Uri.TryCreate(f.Url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)))
        {
            errors.Add($"{s}:Forwarder:Url '{f.Url}' is not an absolute http(s) URL");
        }

        Positive(errors, $"{s}:Forwarder:BatchSize", f.BatchSize);
        Positive(errors, $"{s}:Forwarder:MaxBatchesInFlight", f.MaxBatchesInFlight);
        if (!(o.HeartbeatSeconds >= 0) || double.IsInfinity(o.HeartbeatSeconds))
        {
            errors.Add($"{s}:HeartbeatSeconds must be 0 (off) or a positive number (got {o.HeartbeatSeconds})");
        }

        Positive(errors, $"{s}:Outbox:MaxFrames", o.Outbox.MaxFrames);
        Positive(errors, $"{s}:Outbox:MaxGroupCommit", o.Outbox.MaxGroupCommit);
        if (o.Outbox.Synchronous?.Trim().ToUpperInvariant() is not (null or "" or "FULL" or "NORMAL" or "EXTRA"))
        {
            errors.Add($"{s}:Outbox:Synchronous '{o.Outbox.Synchronous}' is not Full, Normal or Extra");
        }

        try
        {
            _ = o.Outbox.ResolvePath();
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            errors.Add($"{s}:Outbox:Path '{o.Outbox.Path}' is not a usable path: {ex.Message}");
        }
        if (f.LingerMilliseconds < 0)
        {
            errors.Add($"{s}:Forwarder:LingerMilliseconds must not be negative");
        }

        if (f.RetryAttempts < 0)
        {
            errors.Add($"{s}:Forwarder:RetryAttempts must not be negative");
        }

        Positive(errors, $"{s}:Forwarder:TimeoutSeconds", f.TimeoutSeconds);
        Positive(errors, $"{s}:Forwarder:RetryDelaySeconds", f.RetryDelaySeconds);
        Positive(errors, $"{s}:Forwarder:MaxRetryDelaySeconds", f.MaxRetryDelaySeconds);
        Positive(errors, $"{s}:Forwarder:RejectedRetryDelaySeconds", f.RejectedRetryDelaySeconds);
        Positive(errors, $"{s}:Forwarder:ProgressIntervalSeconds", f.ProgressIntervalSeconds);

        if (o.Pbxes.Count == 0)
        {
            errors.Add($"no PBX configured (set {s}:Pbxes:0:Id, :Protocol, :Host, :Port, :Pin)");
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        var smdrOwners = new Dictionary<(int, IPAddress), string>();
        for (var i = 0; i < o.Pbxes.Count; i++)
        {
            var p = o.Pbxes[i];
            var k = $"{s}:Pbxes:{i}";
            if (string.IsNullOrWhiteSpace(p.Id))
            {
                errors.Add($"{k}:Id is empty");
            }
            else if (!ids.Add(p.Id))
            {
                errors.Add($"{k}:Id '{p.Id}' is used twice");
            }

            if (!Protocols.IsKnown(p.Protocol))
            {
                errors.Add($"{k}:Protocol '{p.Protocol}' is unknown (expected one of {string.Join(", ", Protocols.All)})");
            }
            else if (!SupportedProtocols.Contains(p.Protocol))
            {
                errors.Add($"{k}:Protocol '{p.Protocol}' is not supported by this relay yet (supported: {string.Join(", ", SupportedProtocols)})");
            }

            var smdr = p.Protocol == Protocols.Smdr;
            if (!smdr && string.IsNullOrWhiteSpace(p.Host))
            {
                errors.Add($"{k}:Host is empty");
            }

            if (p.Port is { } port && (port > 65535 || port < (smdr ? 0 : 1)))
            {
                errors.Add($"{k}:Port {port} is out of range {(smdr ? 0 : 1)}-65535");
            }

            switch (p.Protocol)
            {
                case Protocols.Ctip:
                    if (string.IsNullOrEmpty(p.Pin) || p.Pin.Any(c => c is '\r' or '\n' or ' '))
                    {
                        // never echo the value: it is a secret
                        errors.Add($"{k}:Pin is empty or contains spaces or line breaks (use ____ for no key)");
                    }

                    break;
                case Protocols.Ami:
                    if (string.IsNullOrWhiteSpace(p.Username) || p.Username.Any(char.IsControl))
                    {
                        errors.Add($"{k}:Username is empty or contains line breaks");
                    }

                    if (string.IsNullOrEmpty(p.Secret) || p.Secret.Any(char.IsControl))
                    {
                        // never echo the value: it is a secret
                        errors.Add($"{k}:Secret is empty or contains line breaks");
                    }

                    if (string.IsNullOrWhiteSpace(p.EventMask) || p.EventMask.Any(char.IsControl))
                    {
                        errors.Add($"{k}:EventMask is empty or contains line breaks (e.g. call,cdr,dialplan,agent)");
                    }

                    Positive(errors, $"{k}:PingIntervalSeconds", p.PingIntervalSeconds);
                    Positive(errors, $"{k}:PingTimeoutSeconds", p.PingTimeoutSeconds);
                    break;
                case Protocols.Smdr:
                    var sources = SmdrSources(p);
                    if (sources.Count == 0)
                    {
                        errors.Add($"{k}:AllowedSources is empty (list the IP addresses the PBX connects from, e.g. {k}:AllowedSources:0=192.0.2.10)");
                    }

                    foreach (var bad in p.AllowedSources.Where(a => !IPAddress.TryParse(a, out _)))
                    {
                        errors.Add($"{k}:AllowedSources '{bad}' is not an IP address");
                    }

                    foreach (var a in sources)
                    {
                        var key = (SmdrPort(o, p), a);
                        if (smdrOwners.TryGetValue(key, out var owner))
                        {
                            errors.Add($"{k}:AllowedSources {a} is already the source of PBX '{owner}' on port {key.Item1}");
                        }
                        else
                        {
                            smdrOwners[key] = p.Id ?? "";
                        }
                    }

                    break;
            }

            Positive(errors, $"{k}:ConnectTimeoutSeconds", p.ConnectTimeoutSeconds);
            Positive(errors, $"{k}:LoginTimeoutSeconds", p.LoginTimeoutSeconds);
            Positive(errors, $"{k}:IdleProbeSeconds", p.IdleProbeSeconds);
            Positive(errors, $"{k}:ProbeTimeoutSeconds", p.ProbeTimeoutSeconds);
            Positive(errors, $"{k}:ReconnectDelaySeconds", p.ReconnectDelaySeconds);
            Positive(errors, $"{k}:ReconnectMaxDelaySeconds", p.ReconnectMaxDelaySeconds);
            Positive(errors, $"{k}:RefusedDelaySeconds", p.RefusedDelaySeconds);
            Positive(errors, $"{k}:RefusedMaxDelaySeconds", p.RefusedMaxDelaySeconds);
            if (p.StableSessionSeconds < 0)
            {
                errors.Add($"{k}:StableSessionSeconds must not be negative");
            }
        }

        var l = o.Smdr;
        if (!IPAddress.TryParse(l.Address, out _))
        {
            errors.Add($"{s}:Smdr:Address '{l.Address}' is not an IP address");
        }

        if (l.Port is < 0 or > 65535)
        {
            errors.Add($"{s}:Smdr:Port {l.Port} is out of range 0-65535");
        }

        Positive(errors, $"{s}:Smdr:MaxLineBytes", l.MaxLineBytes);
        if (l.MaxBufferedBytes < l.MaxLineBytes)
        {
            errors.Add($"{s}:Smdr:MaxBufferedBytes must be at least {s}:Smdr:MaxLineBytes");
        }

        return errors;
    }

    /// <summary>The port an <c>smdr</c> PBX is received on: its own <c>Port</c>, else <c>Relay:Smdr:Port</c>.</summary>
    public static int SmdrPort(RelayOptions o, PbxOptions p) => p.Port ?? o.Smdr.Port;

    /// <summary>
    /// The source addresses of an <c>smdr</c> PBX: <see cref="PbxOptions.AllowedSources"/> that parse (IPv4-mapped IPv6
    /// addresses folded to IPv4), or <see cref="PbxOptions.Host"/> when that list is empty and Host is an IP address.
    /// </summary>
    public static IReadOnlyList<IPAddress> SmdrSources(PbxOptions p)
    {
        var list = p.AllowedSources.Count > 0 ? p.AllowedSources : (p.Host is { Length: > 0 } h ? [h] : []);
        return list
            .Select(a => IPAddress.TryParse(a, out var ip) ? (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip) : null)
            .OfType<IPAddress>()
            .Distinct()
            .ToList();
    }

    private static void Positive(List<string> errors, string key, double value)
    {
        if (!(value > 0) || double.IsInfinity(value))
        {
            errors.Add($"{key} must be a positive number (got {value})");
        }
    }
}
