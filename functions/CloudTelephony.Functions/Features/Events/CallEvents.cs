using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Storage;
using CloudTelephony.Telephony;
using CloudTelephony.Telephony.Streams;

namespace CloudTelephony.Functions.Events;

/// <summary>The CloudEvent types of the live call events (README "Live call events").</summary>
public static class CallEventTypes
{
    /// <summary>An extension rings (one event per extension, ring groups and queues included).</summary>
    public const string Ringing = "call.ringing";

    /// <summary>Someone answered (<c>answeredBy</c>; null = the far end of an outbound call).</summary>
    public const string Answered = "call.answered";

    /// <summary>The call was handed on (<c>from</c>, <c>to</c>).</summary>
    public const string Transferred = "call.transferred";

    /// <summary>The last party left (status, ring and talk seconds).</summary>
    public const string Ended = "call.ended";

    /// <summary>The final call record, as <c>GET /api/calls/{id}</c>'s <c>call</c> and the list show it.</summary>
    public const string Completed = "call.completed";

    /// <summary>Every type, in the order a call goes through them.</summary>
    public static readonly IReadOnlyList<string> All = [Ringing, Answered, Transferred, Ended, Completed];
}

/// <summary>
/// What the live events know of a call in progress (<c>ct.live_calls.state</c>, and <c>GET /api/calls/active</c>):
/// built from its call changes only, whatever the protocol.
/// </summary>
public sealed class LiveCall
{
    /// <summary>PBX id.</summary>
    public string Pbx { get; set; } = "";

    /// <summary>Call key.</summary>
    public string CallKey { get; set; } = "";

    /// <summary>The calling number as known.</summary>
    public string? Caller { get; set; }

    /// <summary>The caller's name from the enterprise's contacts, or null.</summary>
    public string? CallerName { get; set; }

    /// <summary>The called number (DID) as known.</summary>
    public string? Called { get; set; }

    /// <summary>When the call started (UTC: its first change).</summary>
    public DateTimeOffset StartedAt { get; set; }

    /// <summary>Extensions ringing now, each with when it started ringing (UTC).</summary>
    public Dictionary<string, DateTimeOffset> Ringing { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Who talks now (the last to answer; null with <see cref="AnsweredAt"/> set = the far end).</summary>
    public string? AnsweredBy { get; set; }

    /// <summary>The call's first answer (UTC), or null.</summary>
    public DateTimeOffset? AnsweredAt { get; set; }

    /// <summary>Since when the current party talks (UTC), or null.</summary>
    public DateTimeOffset? TalkingSince { get; set; }

    /// <summary>The talking party is on hold.</summary>
    public bool Held { get; set; }

    /// <summary>When the last party left (UTC); null while in progress.</summary>
    public DateTimeOffset? EndedAt { get; set; }

    /// <summary><c>ringing</c>, <c>talking</c>, <c>held</c> or <c>ended</c>.</summary>
    [JsonIgnore]
    public string State => EndedAt is not null ? "ended" : Held ? "held" : TalkingSince is not null ? "talking" : "ringing";
}

/// <summary><c>call.ringing</c> data.</summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="CallKey">Call key.</param>
/// <param name="Extension">The extension that rings.</param>
/// <param name="Caller">The calling number as the PBX gave it.</param>
/// <param name="CallerName">The caller's name from the enterprise's contacts, or null.</param>
/// <param name="Called">The called number (DID) or extension.</param>
/// <param name="StartedAt">When the call started (UTC).</param>
public sealed record RingingData(string Pbx, string CallKey, string? Extension, string? Caller, string? CallerName, string? Called, DateTimeOffset StartedAt);

/// <summary><c>call.answered</c> data.</summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="CallKey">Call key.</param>
/// <param name="AnsweredBy">The extension that answered; null = the far end (outbound call).</param>
/// <param name="RingSeconds">Seconds it rang before this answer (from the call's start for the first answer, from the
/// extension's ring for a transfer target).</param>
/// <param name="Caller">The calling number.</param>
/// <param name="Called">The called number.</param>
public sealed record AnsweredData(string Pbx, string CallKey, string? AnsweredBy, double RingSeconds, string? Caller, string? Called);

/// <summary><c>call.transferred</c> data.</summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="CallKey">Call key.</param>
/// <param name="From">The extension that transferred.</param>
/// <param name="To">The extension or number the call went to.</param>
public sealed record TransferredData(string Pbx, string CallKey, string? From, string? To);

/// <summary><c>call.ended</c> data.</summary>
/// <param name="Pbx">PBX id.</param>
/// <param name="CallKey">Call key.</param>
/// <param name="Status"><c>answered</c> (someone answered) or <c>missed</c>, from the call's changes; the final status
/// (busy, voicemail, failed …) is <c>call.completed</c>'s. Computed from the changes alone, so the same change gives the
/// same event whatever the batch split.</param>
/// <param name="RingSeconds">Seconds from start to answer (or to the end).</param>
/// <param name="TalkSeconds">Seconds from answer to end.</param>
/// <param name="AnsweredBy">The extension that answered, or null.</param>
/// <param name="StartedAt">When the call started (UTC).</param>
/// <param name="EndedAt">When it ended (UTC).</param>
public sealed record EndedData(string Pbx, string CallKey, string Status, double RingSeconds, double TalkSeconds, string? AnsweredBy, DateTimeOffset StartedAt, DateTimeOffset EndedAt);

/// <summary>JSON of the events' data and of the live call state (camelCase, enums as lower-case strings).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(RingingData))]
[JsonSerializable(typeof(AnsweredData))]
[JsonSerializable(typeof(TransferredData))]
[JsonSerializable(typeof(EndedData))]
[JsonSerializable(typeof(LiveCall))]
public sealed partial class EventJson : JsonSerializerContext;

/// <summary>One CloudEvent built from a call change, ready for the outbox.</summary>
/// <param name="Row">The outbox row (its body is the CloudEvent JSON, structured mode).</param>
/// <param name="Event">The CloudEvent.</param>
public sealed record BuiltEvent(OutboxEvent Row, CloudEvent Event);

/// <summary>
/// Turns call changes into CloudEvents 1.0 (pure: no I/O; used by the ingest handler and <c>correlate --events</c>).
/// <list type="bullet">
/// <item><c>id</c>: deterministic, a hash of (pbx, call key, the causing frame's session:seq, the change's ordinal), so
/// the same change gets the same id on any redelivery and a reused call key never collides.</item>
/// <item><c>source</c> = <c>/pbxes/{pbx}</c>, <c>subject</c> = the call key, <c>time</c> = the change's UTC time,
/// extension attributes <c>enterprise</c> (the enterprise's name) and <c>callseq</c> (the change's ordinal within its
/// call: increasing per call, with gaps where a change has no event).</item>
/// <item><c>Opened</c>, <c>Held</c>, <c>Resumed</c> and <c>Merged</c> update the live call but emit no event.</item>
/// </list>
/// </summary>
public static class CallEventBuilder
{
    /// <summary>The CloudEvent extension attribute naming the enterprise (Service Bus subscriptions filter on it).</summary>
    public static readonly CloudEventAttribute EnterpriseAttribute = CloudEventAttribute.CreateExtension("enterprise", CloudEventAttributeType.String);

    /// <summary>The per-call order attribute: the change's ordinal within its call.</summary>
    public static readonly CloudEventAttribute CallSeqAttribute = CloudEventAttribute.CreateExtension("callseq", CloudEventAttributeType.Integer);

    /// <summary>The formatter (System.Text.Json, structured mode), escaping as little as the API's answers do (a JSON body,
    /// never HTML), so <c>call.completed</c>'s data is byte for byte the call of <c>GET /api/calls/{id}</c>.</summary>
    public static readonly JsonEventFormatter Formatter = new CallEventFormatter();

    /// <summary>The deterministic CloudEvent id of a change: 32 hex digits of SHA-256 over pbx, call key, session:seq and ordinal.</summary>
    public static string EventId(in CallChange change)
    {
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes($"{change.Pbx}\n{change.CallKey}\n{change.Session}:{change.Seq}\n{change.Ordinal}"));
        return Convert.ToHexStringLower(bytes.AsSpan(0, 16));
    }

    /// <summary>
    /// Applies <paramref name="changes"/> (one PBX's, in emission order) to the live calls and returns the events they make.
    /// </summary>
    /// <param name="changes">The changes.</param>
    /// <param name="enterprise">The PBX's enterprise (id and name).</param>
    /// <param name="live">The live calls touched so far, by call key: loaded ones must be in it before (missing = a call
    /// first seen now); it is updated in place (a completed or merged call is removed and its key added to <paramref name="gone"/>).</param>
    /// <param name="gone">Keys of calls that completed or merged.</param>
    /// <param name="callerName">The contact name of a calling number, or null.</param>
    /// <param name="completed">The <c>call.completed</c> data of a final record (as the API shows it).</param>
    public static List<BuiltEvent> Apply(
        IReadOnlyList<CallChange> changes, EventEnterprise enterprise, Dictionary<string, LiveCall> live, ISet<string> gone,
        Func<string?, string?> callerName, Func<Call, CallDto> completed)
    {
        var events = new List<BuiltEvent>();
        for (var i = 0; i < changes.Count; i++)
        {
            var c = changes[i];
            if (!live.TryGetValue(c.CallKey, out var call))
            {
                call = new LiveCall { Pbx = c.Pbx, CallKey = c.CallKey, StartedAt = c.At };
                live[c.CallKey] = call;
                gone.Remove(c.CallKey);
            }

            call.Caller ??= c.Caller;
            call.Called ??= c.Called;
            switch (c.Kind)
            {
                case CallChangeKind.Opened:
                    call.EndedAt = null;
                    call.CallerName ??= callerName(call.Caller);
                    break;
                case CallChangeKind.Ringing:
                    call.EndedAt = null;
                    call.CallerName ??= callerName(call.Caller);
                    if (c.Extension is { } ext)
                    {
                        call.Ringing[ext] = c.At;
                    }

                    events.Add(Make(c, enterprise, CallEventTypes.Ringing, 
                        new RingingData(c.Pbx, c.CallKey, c.Extension, call.Caller, call.CallerName, call.Called, call.StartedAt)));
                    break;
                case CallChangeKind.Answered:
                    var ringFrom = c.Extension is { } who && call.Ringing.TryGetValue(who, out var rang) && call.AnsweredAt is not null ? rang : call.StartedAt;
                    call.AnsweredAt ??= c.At;
                    call.AnsweredBy = c.Extension;
                    call.TalkingSince = c.At;
                    call.Held = false;
                    call.Ringing.Clear();
                    events.Add(Make(c, enterprise, CallEventTypes.Answered, 
                        new AnsweredData(c.Pbx, c.CallKey, c.Extension, Call.Seconds(ringFrom, c.At), call.Caller, call.Called)));
                    break;
                case CallChangeKind.Transferred:
                    events.Add(Make(c, enterprise, CallEventTypes.Transferred, 
                        new TransferredData(c.Pbx, c.CallKey, c.From, c.To)));
                    break;
                case CallChangeKind.Held:
                    call.Held = true;
                    break;
                case CallChangeKind.Resumed:
                    call.Held = false;
                    break;
                case CallChangeKind.Ended:
                    call.EndedAt = c.At;
                    call.Ringing.Clear();
                    var ended = new EndedData(c.Pbx, c.CallKey, call.AnsweredAt is null ? "missed" : "answered",
                        Call.Seconds(call.StartedAt, call.AnsweredAt ?? c.At), call.AnsweredAt is { } a ? Call.Seconds(a, c.At) : 0,
                        call.AnsweredBy, call.StartedAt, c.At);
                    events.Add(Make(c, enterprise, CallEventTypes.Ended, ended));
                    break;
                case CallChangeKind.Completed:
                    live.Remove(c.CallKey);
                    gone.Add(c.CallKey);
                    events.Add(Make(c, enterprise, CallEventTypes.Completed, completed(c.Call!)));
                    break;
                case CallChangeKind.Merged:
                    live.Remove(c.CallKey);
                    gone.Add(c.CallKey);
                    break;
            }
        }

        return events;
    }

    private static BuiltEvent Make(in CallChange c, EventEnterprise enterprise, string type, object data)
    {
        var ev = new CloudEvent(CloudEventsSpecVersion.V1_0, [EnterpriseAttribute, CallSeqAttribute])
        {
            Id = EventId(c),
            Type = type,
            Source = new Uri("/pbxes/" + Uri.EscapeDataString(c.Pbx), UriKind.Relative),
            Subject = c.CallKey,
            Time = c.At.ToUniversalTime(),
            DataContentType = "application/json",
            Data = data,
        };
        ev[EnterpriseAttribute] = enterprise.Name;
        ev[CallSeqAttribute] = c.Ordinal;
        var body = Encoding.UTF8.GetString(Formatter.EncodeStructuredModeMessage(ev, out _).Span);
        return new BuiltEvent(new OutboxEvent(ev.Id!, enterprise.Id, c.Pbx, c.CallKey, type, c.Ordinal, c.At.ToUniversalTime(), body), ev);
    }
}

/// <summary>
/// The SDK's System.Text.Json formatter (<see cref="JsonEventFormatter"/>) with the data of the call events written by
/// their source-generated serializers (<see cref="EventJson"/>, and <see cref="ApiJson"/> for <c>call.completed</c>):
/// the SDK's extension point for structured-mode data, instead of its reflection path. The envelope — attribute order,
/// formats, validation — is the SDK's. Escaping is the API's (<c>UnsafeRelaxedJsonEscaping</c>: a JSON body, never HTML).
/// </summary>
public sealed class CallEventFormatter() : JsonEventFormatter(
    new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }, default)
{
    /// <inheritdoc />
    /// <exception cref="ArgumentException">Data of another type (the base formatter's rules then apply to it).</exception>
    protected override void EncodeStructuredModeData(CloudEvent cloudEvent, Utf8JsonWriter writer)
    {
        switch (cloudEvent.Data)
        {
            case RingingData d:
                writer.WritePropertyName(DataPropertyName);
                JsonSerializer.Serialize(writer, d, EventJson.Default.RingingData);
                break;
            case AnsweredData d:
                writer.WritePropertyName(DataPropertyName);
                JsonSerializer.Serialize(writer, d, EventJson.Default.AnsweredData);
                break;
            case TransferredData d:
                writer.WritePropertyName(DataPropertyName);
                JsonSerializer.Serialize(writer, d, EventJson.Default.TransferredData);
                break;
            case EndedData d:
                writer.WritePropertyName(DataPropertyName);
                JsonSerializer.Serialize(writer, d, EventJson.Default.EndedData);
                break;
            case CallDto d:
                writer.WritePropertyName(DataPropertyName);
                JsonSerializer.Serialize(writer, d, ApiJson.Default.CallDto);
                break;
            default:
                base.EncodeStructuredModeData(cloudEvent, writer);
                break;
        }
    }
}
