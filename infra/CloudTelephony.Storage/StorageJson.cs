using System.Text.Json;
using System.Text.Json.Serialization;
using CloudTelephony.Telephony;

namespace CloudTelephony.Storage;

/// <summary>JSON metadata for the jsonb columns (calls.transfers, calls.extensions): camelCase, ISO 8601 UTC.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(IReadOnlyList<CallTransfer>))]
[JsonSerializable(typeof(List<CallTransfer>))]
internal sealed partial class StorageJson : JsonSerializerContext;

/// <summary>The lower-case names the database and the API use for call enums.</summary>
public static class CallNames
{
    /// <summary><c>inbound</c>, <c>outbound</c> or <c>internal</c>.</summary>
    public static string Of(CallDirection d) => d switch
    {
        CallDirection.Inbound => "inbound",
        CallDirection.Outbound => "outbound",
        _ => "internal",
    };

    /// <summary><c>answered</c>, <c>missed</c>, <c>busy</c>, <c>failed</c>, <c>voicemail</c> or <c>unknown</c>.</summary>
    public static string Of(CallStatus s) => s switch
    {
        CallStatus.Answered => "answered",
        CallStatus.Missed => "missed",
        CallStatus.Busy => "busy",
        CallStatus.Failed => "failed",
        CallStatus.Voicemail => "voicemail",
        _ => "unknown",
    };
}
