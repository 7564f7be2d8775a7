using System.Globalization;
using System.Text.Json;

namespace CloudTelephony.Functions.Hosting;

/// <summary>How the app runs: under the Azure Functions host (custom handler) or on its own.</summary>
public enum HostingMode
{
    /// <summary>No Functions host: listens on <c>--urls</c> (default <see cref="FunctionsApp.DefaultUrl"/>), runs the timers in process, may consume Service Bus itself.</summary>
    Standalone,

    /// <summary>Started by the Functions host: listens on <c>127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT</c>; triggers and timers are the host's.</summary>
    FunctionsHost,
}

/// <summary>
/// The Functions host contract in one place (protocols/functions-custom-handler.md §2, §4, §5 [HOSTSRC]): the hosting
/// mode, the invocation request the host POSTs to <c>/&lt;FunctionName&gt;</c> and the answer it expects.
/// </summary>
public sealed class FunctionsHost
{
    /// <summary>The environment variable the host sets to the port the handler must listen on (127.0.0.1).</summary>
    public const string PortSetting = "FUNCTIONS_CUSTOMHANDLER_PORT";

    private FunctionsHost(HostingMode mode, int? port)
    {
        Mode = mode;
        Port = port;
    }

    /// <summary>The hosting mode.</summary>
    public HostingMode Mode { get; }

    /// <summary>The port the host gave (only under the Functions host).</summary>
    public int? Port { get; }

    /// <summary>True under the Functions host.</summary>
    public bool IsFunctionsHost => Mode == HostingMode.FunctionsHost;

    /// <summary>The address to listen on under the Functions host (<c>http://127.0.0.1:{port}</c>), else null.</summary>
    public string? Url => Port is { } p ? $"http://127.0.0.1:{p}" : null;

    /// <summary>Decides the mode from configuration: <see cref="PortSetting"/> set → <see cref="HostingMode.FunctionsHost"/>.</summary>
    /// <exception cref="ConfigException">The port is set but is no TCP port.</exception>
    public static FunctionsHost From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (configuration[PortSetting] is not { Length: > 0 } text)
        {
            return new FunctionsHost(HostingMode.Standalone, null);
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535
            ? new FunctionsHost(HostingMode.FunctionsHost, port)
            : throw new ConfigException($"{PortSetting} '{text}' is not a TCP port");
    }
}

/// <summary>
/// One invocation of a non-HTTP function as the Functions host POSTs it: <c>{"Data": {binding: value}, "Metadata":
/// {key: value}}</c>, each value made by the host's <c>GetHttpScriptInvocationContextValue</c>
/// (<c>Workers/MessageExtensions/ScriptInvocationContextExtensions.cs</c>, v4.1036.3): <c>byte[]</c> → base64, a date →
/// a date, anything that converts to a JSON object → that object, anything else (strings, numbers, arrays) →
/// <c>JsonConvert.SerializeObject(value)</c>, i.e. JSON text inside a JSON string (protocols/functions-custom-handler.md §4.2).
/// </summary>
public sealed class InvocationRequest
{
    private InvocationRequest(JsonElement data, JsonElement metadata)
    {
        Data = data;
        Metadata = metadata;
    }

    /// <summary><c>Data</c>: one entry per trigger or input binding name.</summary>
    public JsonElement Data { get; }

    /// <summary><c>Metadata</c>: the trigger's binding data (MessageId, …Array, sys, …); an empty object when absent.</summary>
    public JsonElement Metadata { get; }

    /// <summary>Reads the request body of an invocation.</summary>
    /// <exception cref="InvocationFormatException">The body is not JSON or has no <c>Data</c> object.</exception>
    public static async Task<InvocationRequest> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            using var doc = await JsonDocument.ParseAsync(request.Body, cancellationToken: cancellationToken).ConfigureAwait(false);
            return From(doc.RootElement);
        }
        catch (JsonException ex)
        {
            throw new InvocationFormatException($"the invocation body is not JSON: {ex.Message}", ex);
        }
    }

    /// <summary>Parses an invocation payload.</summary>
    /// <exception cref="InvocationFormatException">It is not JSON or has no <c>Data</c> object.</exception>
    public static InvocationRequest Parse(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return From(doc.RootElement);
        }
        catch (JsonException ex)
        {
            throw new InvocationFormatException($"the invocation body is not JSON: {ex.Message}", ex);
        }
    }

    private static InvocationRequest From(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !TryGet(root, "Data", out var data) || data.ValueKind != JsonValueKind.Object)
        {
            throw new InvocationFormatException("the invocation has no Data object");
        }

        var meta = TryGet(root, "Metadata", out var m) && m.ValueKind == JsonValueKind.Object ? m.Clone() : EmptyObject();
        return new InvocationRequest(data.Clone(), meta);
    }

    /// <summary>
    /// The messages of a serviceBusTrigger binding with <c>"dataType": "string"</c>, in order: a batch
    /// (<c>cardinality many</c>, string[]) arrives as a JSON string holding the array text <c>"[\"…\",\"…\"]"</c>, a
    /// single message (string) as its body JSON-encoded again <c>"\"…\""</c>; a real JSON array or an object is taken as
    /// is (other senders, tests by hand). Metadata comes from the parallel <c>…Array</c> entries (themselves JSON strings
    /// holding arrays) for a batch, from the single entries (<c>"MessageId": "\"…\""</c>, <c>"DeliveryCount": "1"</c>)
    /// for one message.
    /// </summary>
    /// <param name="binding">The trigger's binding name (<c>msg</c>).</param>
    /// <returns>Empty when <c>Data</c> has no such binding.</returns>
    public IReadOnlyList<ServiceBusTriggerMessage> ServiceBusMessages(string binding = "msg")
    {
        if (!TryGet(Data, binding, out var value))
        {
            return [];
        }

        var (bodies, batch) = Bodies(value);
        var ids = MetadataArray("MessageId");
        var sessions = MetadataArray("SessionId");
        var counts = MetadataArray("DeliveryCount");
        var enqueued = MetadataArray("EnqueuedTimeUtc");
        var single = !batch && bodies.Count == 1;
        var messages = new List<ServiceBusTriggerMessage>(bodies.Count);
        for (var i = 0; i < bodies.Count; i++)
        {
            messages.Add(new ServiceBusTriggerMessage(
                i,
                bodies[i],
                At(ids, i) ?? (single ? MetadataText("MessageId") : null),
                At(sessions, i) ?? (single ? MetadataText("SessionId") : null),
                ToInt(At(counts, i) ?? (single ? MetadataText("DeliveryCount") : null)),
                ToTime(At(enqueued, i) ?? (single ? MetadataText("EnqueuedTimeUtc") : null))));
        }

        return messages;
    }

    /// <summary>The timer binding's <c>IsPastDue</c> (a timerTrigger's TimerInfo object, §4.3); false when absent.</summary>
    public bool TimerIsPastDue(string binding = "timer") =>
        TryGet(Data, binding, out var t) && Decoded(t) is { ValueKind: JsonValueKind.Object } info && TryGet(info, "IsPastDue", out var due) && due.ValueKind == JsonValueKind.True;

    /// <summary>A single metadata value as text: a JSON string holding JSON text is decoded once (<c>"\"abc\""</c> → <c>abc</c>, <c>"1"</c> → <c>1</c>); null when absent.</summary>
    public string? MetadataText(string key) => TryGet(Metadata, key, out var v) ? Text(Decoded(v)) : null;

    /// <summary>A metadata array (<c>{key}Array</c>) as texts: the host sends it as a JSON string holding the array; an actual JSON array is accepted too. Empty when absent.</summary>
    public IReadOnlyList<string?> MetadataArray(string key)
    {
        if (!TryGet(Metadata, key + "Array", out var v) || Decoded(v) is not { ValueKind: JsonValueKind.Array } array)
        {
            return [];
        }

        return [.. array.EnumerateArray().Select(Text)];
    }

    /// <summary>
    /// Undoes the host's <c>JsonConvert.SerializeObject</c> of a non-object value: a JSON string whose text is JSON
    /// (a string literal, an array, a number, …) becomes that JSON; anything else stays as it is.
    /// </summary>
    public static JsonElement Decoded(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.String || value.GetString() is not { Length: > 0 } text)
        {
            return value;
        }

        var t = text.TrimStart();
        if (t.Length == 0 || !(t[0] is '"' or '[' or '{' or '-' or (>= '0' and <= '9') || t.StartsWith("true", StringComparison.Ordinal) || t.StartsWith("false", StringComparison.Ordinal) || t.StartsWith("null", StringComparison.Ordinal)))
        {
            return value;
        }

        try
        {
            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return value;
        }
    }

    /// <summary>The message bodies of a trigger value and whether it was a batch (an array).</summary>
    private static (IReadOnlyList<string> Bodies, bool Batch) Bodies(JsonElement value)
    {
        var decoded = Decoded(value);
        return decoded.ValueKind switch
        {
            JsonValueKind.Array => ([.. decoded.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText())], true),
            JsonValueKind.String => ([decoded.GetString()!], false),
            JsonValueKind.Null or JsonValueKind.Undefined => ([], false),
            // an object, or a string whose text was a bare number/true/…: the body is the text as it came
            _ => ([value.ValueKind == JsonValueKind.String ? value.GetString()! : decoded.GetRawText()], false),
        };
    }

    private static string? At(IReadOnlyList<string?> values, int i) => i < values.Count ? values[i] : null;

    private static int? ToInt(string? s) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : null;

    private static DateTimeOffset? ToTime(string? s) =>
        DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t) ? t : null;

    private static string? Text(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => e.GetRawText(),
        JsonValueKind.Object or JsonValueKind.Array => e.GetRawText(),
        _ => null,
    };

    private static JsonElement EmptyObject()
    {
        using var doc = JsonDocument.Parse("{}");
        return doc.RootElement.Clone();
    }

    internal static bool TryGet(JsonElement e, string name, out JsonElement value)
    {
        if (e.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in e.EnumerateObject())
            {
                if (p.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                {
                    value = p.Value;
                    return true;
                }
            }
        }

        value = default;
        return false;
    }
}

/// <summary>One Service Bus message of a trigger invocation (or of the standalone consumer).</summary>
/// <param name="Index">Position in the batch (0 for a single message).</param>
/// <param name="Body">The body as text (UTF-8 JSON for the relay's envelopes and heartbeats).</param>
/// <param name="MessageId">Service Bus MessageId (<c>pbx:session:seq</c> for frames), when known.</param>
/// <param name="SessionId">Service Bus SessionId (the PBX id, <c>relay:&lt;id&gt;</c> for heartbeats), when known.</param>
/// <param name="DeliveryCount">Deliveries so far including this one (1 the first time), when known.</param>
/// <param name="EnqueuedTimeUtc">When the broker accepted the message, when known.</param>
public sealed record ServiceBusTriggerMessage(int Index, string Body, string? MessageId, string? SessionId, int? DeliveryCount, DateTimeOffset? EnqueuedTimeUtc);

/// <summary>The invocation body is not what the host sends (not JSON, no <c>Data</c>): answered 400.</summary>
public sealed class InvocationFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public InvocationFormatException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public InvocationFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public InvocationFormatException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>
/// Answers to the host (§5, <c>DefaultHttpWorkerService.cs</c> 179–261): HTTP 200 with
/// <c>{"Outputs":{…},"Logs":[…],"ReturnValue":…}</c> as JSON; any other status fails the invocation (a Service Bus
/// trigger's messages are abandoned) and its outputs are ignored.
/// </summary>
public static class Invocation
{
    /// <summary>Success: <paramref name="logs"/> go to the invocation log; <paramref name="outputs"/> per output binding.</summary>
    /// <remarks>
    /// A string output is base64-decoded by the host when it decodes as base64, so Service Bus output messages are
    /// given as an array of strings (one message each), never as one bare string.
    /// </remarks>
    public static IResult Ok(IReadOnlyList<string> logs, Dictionary<string, object?>? outputs = null, object? returnValue = null) =>
        Results.Json(new InvocationResponse(outputs ?? [], logs, returnValue), ApiJson.Default.InvocationResponse);

    /// <summary>Failure with <paramref name="status"/> (400 poison, 500/503 storage): the host fails the invocation.</summary>
    public static IResult Failed(int status, IReadOnlyList<string> logs) =>
        Results.Json(new InvocationResponse([], logs, null), ApiJson.Default.InvocationResponse, statusCode: status);

    /// <summary>Service Bus output messages (one per element) for an output binding.</summary>
    public static Dictionary<string, object?> ServiceBusOutput(string binding, IEnumerable<string> messages) =>
        new() { [binding] = messages.ToArray() };
}

/// <summary>Reading a timerTrigger invocation (§4.3): only <c>IsPastDue</c> matters to our timers, and a timer that cannot be read still runs.</summary>
public static class TimerInvocation
{
    /// <summary>The timer's <c>IsPastDue</c>; false for an empty or unreadable body (a POST by hand, <c>./ct admin archive run</c>).</summary>
    public static async Task<bool> IsPastDueAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ContentLength is 0)
        {
            return false;
        }

        try
        {
            return (await InvocationRequest.ReadAsync(request, cancellationToken).ConfigureAwait(false)).TimerIsPastDue();
        }
        catch (InvocationFormatException)
        {
            return false;
        }
    }
}
