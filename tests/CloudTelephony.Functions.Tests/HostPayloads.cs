using System.Globalization;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace CloudTelephony.Functions.Tests;

/// <summary>
/// Builds custom-handler invocation payloads by the Functions host's own rules, with Newtonsoft.Json as the host does
/// (azure-functions-host v4.1036.3, <c>src/WebJobs.Script/Workers/MessageExtensions/ScriptInvocationContextExtensions.cs</c>
/// <c>GetHttpScriptInvocationContextValue</c>, then the whole <c>{Data, Metadata}</c> serialized by
/// <c>DefaultHttpWorkerService</c>; protocols/functions-custom-handler.md §4.2): every trigger test posts what these
/// produce instead of hand-written JSON.
/// </summary>
public static class HostPayloads
{
    /// <summary>
    /// The host's value rule: <c>byte[]</c> → base64 (unless the binding is binary); a date → a date; whatever
    /// <c>JObject.FromObject</c> accepts (POCOs, dictionaries) → that object; anything else (strings, numbers, arrays)
    /// → <c>JsonConvert.SerializeObject(value)</c>.
    /// </summary>
    public static object? ContextValue(object? value, bool binary = false)
    {
        switch (value)
        {
            case byte[] bytes:
                return binary ? bytes : Convert.ToBase64String(bytes);
            case DateTime d:
                return DateTime.Parse(d.ToString("O", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
            case DateTimeOffset o:
                return DateTimeOffset.Parse(o.ToString("O", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        }

        if (value is not null)
        {
            try
            {
                return JObject.FromObject(value);
            }
            catch (ArgumentException)
            {
                // "Object serialized to String/Array/Integer. JObject instance expected."
            }
        }

        return JsonConvert.SerializeObject(value);
    }

    /// <summary>The invocation body: <c>{"Data": {...}, "Metadata": {...}}</c> with every value made by <see cref="ContextValue"/>.</summary>
    public static string Invocation(IReadOnlyDictionary<string, object?> data, IReadOnlyDictionary<string, object?> metadata) =>
        JsonConvert.SerializeObject(new Dictionary<string, object?>
        {
            ["Data"] = data.ToDictionary(kv => kv.Key, kv => ContextValue(kv.Value)),
            ["Metadata"] = metadata.ToDictionary(kv => kv.Key, kv => ContextValue(kv.Value)),
        });

    /// <summary>One Service Bus message as the trigger sees it.</summary>
    public sealed record Message(string Body, string? MessageId, string? SessionId, int DeliveryCount = 1, long SequenceNumber = 1);

    /// <summary>
    /// A serviceBusTrigger batch (<c>cardinality many</c>, <c>dataType string</c>): <c>msg</c> is the <c>string[]</c> of
    /// bodies, the metadata holds the parallel arrays the Service Bus extension binds (MessageIdArray, SessionIdArray,
    /// DeliveryCountArray, EnqueuedTimeUtcArray, SequenceNumberArray, ContentTypeArray, ApplicationPropertiesArray, …) and <c>sys</c>.
    /// </summary>
    public static string ServiceBusBatch(IReadOnlyList<Message> messages, string function = "IngestFrames", string binding = "msg")
    {
        var enqueued = new DateTime(2026, 1, 5, 10, 0, 0, DateTimeKind.Utc);
        return Invocation(
            new Dictionary<string, object?> { [binding] = messages.Select(m => m.Body).ToArray() },
            new Dictionary<string, object?>
            {
                ["MessageIdArray"] = messages.Select(m => m.MessageId).ToArray(),
                ["SessionIdArray"] = messages.Select(m => m.SessionId).ToArray(),
                ["DeliveryCountArray"] = messages.Select(m => m.DeliveryCount).ToArray(),
                ["SequenceNumberArray"] = messages.Select(m => m.SequenceNumber).ToArray(),
                ["EnqueuedTimeUtcArray"] = messages.Select(_ => enqueued).ToArray(),
                ["ExpiresAtUtcArray"] = messages.Select(_ => enqueued.AddDays(14)).ToArray(),
                ["ContentTypeArray"] = messages.Select(_ => "application/json").ToArray(),
                ["CorrelationIdArray"] = messages.Select(_ => (string?)null).ToArray(),
                ["LockTokenArray"] = messages.Select(_ => Guid.NewGuid().ToString()).ToArray(),
                ["ApplicationPropertiesArray"] = messages.Select(_ => new Dictionary<string, object>()).ToArray(),
                ["sys"] = Sys(function),
            });
    }

    /// <summary>A single-message serviceBusTrigger (<c>dataType string</c>): <c>msg</c> is the body string; single metadata values.</summary>
    public static string ServiceBusSingle(Message message, string function, string binding = "msg") => Invocation(
        new Dictionary<string, object?> { [binding] = message.Body },
        new Dictionary<string, object?>
        {
            ["MessageId"] = message.MessageId,
            ["SessionId"] = message.SessionId,
            ["DeliveryCount"] = message.DeliveryCount,
            ["SequenceNumber"] = message.SequenceNumber,
            ["EnqueuedTimeUtc"] = new DateTime(2026, 1, 5, 10, 0, 0, DateTimeKind.Utc),
            ["ContentType"] = "application/json",
            ["ApplicationProperties"] = new Dictionary<string, object> { ["schema"] = "v1" },
            ["sys"] = Sys(function),
        });

    /// <summary>A timerTrigger invocation: <c>timer</c> is the TimerInfo object (§4.3).</summary>
    public static string Timer(string function, bool pastDue = false) => Invocation(
        new Dictionary<string, object?>
        {
            ["timer"] = new TimerInfo(
                new TimerSchedule(true),
                new TimerStatus(new DateTime(2025, 9, 3, 9, 59, 0, DateTimeKind.Utc), new DateTime(2025, 9, 3, 10, 0, 0, DateTimeKind.Utc), new DateTime(2025, 9, 3, 9, 59, 0, DateTimeKind.Utc)),
                pastDue),
        },
        new Dictionary<string, object?> { ["sys"] = Sys(function) });

    private static SystemBindingData Sys(string function) => new(function, new DateTime(2026, 1, 5, 10, 0, 0, 123, DateTimeKind.Utc), Guid.NewGuid());

    /// <summary>The host's <c>sys</c> binding data.</summary>
    public sealed record SystemBindingData(string MethodName, DateTime UtcNow, Guid RandGuid);

    /// <summary>The timer extension's TimerInfo shape.</summary>
    public sealed record TimerInfo(TimerSchedule Schedule, TimerStatus ScheduleStatus, bool IsPastDue);

    /// <summary>TimerInfo.Schedule.</summary>
    public sealed record TimerSchedule(bool AdjustForDST);

    /// <summary>TimerInfo.ScheduleStatus.</summary>
    public sealed record TimerStatus(DateTime Last, DateTime Next, DateTime LastUpdated);
}
