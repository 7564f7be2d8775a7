using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
namespace CloudTelephony.Functions.Hosting;

/// <summary>
/// The custom handler's answer to a non-HTTP invocation (protocols/functions-custom-handler.md §5):
/// <c>{"Outputs": {...}, "Logs": [...], "ReturnValue": ...}</c>.
/// </summary>
/// <remarks>The names are PascalCase as the host's documentation writes them, whatever the app's JSON naming policy.</remarks>
public sealed record InvocationResponse(
    [property: System.Text.Json.Serialization.JsonPropertyName("Outputs")] Dictionary<string, object?> Outputs,
    [property: System.Text.Json.Serialization.JsonPropertyName("Logs")] IReadOnlyList<string> Logs,
    [property: System.Text.Json.Serialization.JsonPropertyName("ReturnValue")] object? ReturnValue);
