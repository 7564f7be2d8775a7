using CloudTelephony.Contracts;
using CloudTelephony.Relay.Hosting;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Relay.Configuration;

/// <summary>Checks <see cref="RelayOptions"/> at start; every failure message names the configuration key.</summary>
public sealed class RelayOptionsValidator : IValidateOptions<RelayOptions>
{
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
        if (f.MaxBatchBytes is < 256 * 1024 or > 28 * 1024 * 1024)
        {
            errors.Add($"{s}:Forwarder:MaxBatchBytes {f.MaxBatchBytes} is out of range 262144-29360128 (below the receiver's 30 MB request limit)");
        }
        Positive(errors, $"{s}:Forwarder:MaxBatchesInFlight", f.MaxBatchesInFlight);
        if (!(o.HeartbeatSeconds >= 0) || double.IsInfinity(o.HeartbeatSeconds))
        {
            errors.Add($"{s}:HeartbeatSeconds must be 0 (off) or a positive number (got {o.HeartbeatSeconds})");
        }

        Positive(errors, $"{s}:Outbox:MaxFrames", o.Outbox.MaxFrames);
        Positive(errors, $"{s}:Outbox:MaxGroupCommit", o.Outbox.MaxGroupCommit);
        if (o.Outbox.MaxFramesPerPbx < 0)
        {
            errors.Add($"{s}:Outbox:MaxFramesPerPbx must not be negative (0 = an equal share of MaxFrames per PBX)");
        }
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
            errors.Add($"no PBX configured (set {s}:Pbxes:0:Id, :Protocol, :Host, :Port and the protocol's section, e.g. {s}:Pbxes:0:Ctip:Pin)");
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        var byProtocol = new Dictionary<IPbxConnectorFactory, List<(string, PbxOptions)>>();
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

            var factory = PbxConnectorFactories.Find(p.Protocol);
            if (factory is null)
            {
                errors.Add(Protocols.IsKnown(p.Protocol)
                    ? $"{k}:Protocol '{p.Protocol}' is not supported by this relay yet (supported: {PbxConnectorFactories.Names})"
                    : $"{k}:Protocol '{p.Protocol}' is unknown (expected one of {PbxConnectorFactories.Names})");
                continue;
            }

            if (!byProtocol.TryGetValue(factory, out var list))
            {
                byProtocol[factory] = list = [];
            }

            list.Add((k, p));
            if (!factory.PbxConnects && string.IsNullOrWhiteSpace(p.Host))
            {
                errors.Add($"{k}:Host is empty");
            }

            var min = factory.PbxConnects ? 0 : 1;
            if (p.Port is { } port && (port > 65535 || port < min))
            {
                errors.Add($"{k}:Port {port} is out of range {min}-65535");
            }

            if (p.MaxFrameBytes is < 256 or > 16 * 1024 * 1024)
            {
                errors.Add($"{k}:MaxFrameBytes {p.MaxFrameBytes} is out of range 256-16777216");
            }

            Positive(errors, $"{k}:ConnectTimeoutSeconds", p.ConnectTimeoutSeconds);
            Positive(errors, $"{k}:LoginTimeoutSeconds", p.LoginTimeoutSeconds);
            Positive(errors, $"{k}:ReconnectDelaySeconds", p.ReconnectDelaySeconds);
            Positive(errors, $"{k}:ReconnectMaxDelaySeconds", p.ReconnectMaxDelaySeconds);
            Positive(errors, $"{k}:RefusedDelaySeconds", p.RefusedDelaySeconds);
            Positive(errors, $"{k}:RefusedMaxDelaySeconds", p.RefusedMaxDelaySeconds);
            if (p.StableSessionSeconds < 0)
            {
                errors.Add($"{k}:StableSessionSeconds must not be negative");
            }
        }

        // every protocol checks its own section (and shared ones such as Relay:Smdr), with or without PBXes of its own
        foreach (var factory in PbxConnectorFactories.All)
        {
            factory.Validate(o, byProtocol.TryGetValue(factory, out var mine) ? mine : [], errors);
        }

        return errors;
    }

    /// <summary>Adds "<paramref name="key"/> must be a positive number" to <paramref name="errors"/> unless <paramref name="value"/> is a finite number above 0.</summary>
    public static void Positive(ICollection<string> errors, string key, double value)
    {
        if (!(value > 0) || double.IsInfinity(value))
        {
            errors.Add($"{key} must be a positive number (got {value})");
        }
    }
}
