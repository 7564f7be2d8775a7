using System.ComponentModel;
using System.Globalization;
using System.Text;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using CsvHelper;
using CsvHelper.Configuration;
using Microsoft.AspNetCore.Mvc;

namespace CloudTelephony.Functions.Calls;

/// <summary>
/// <c>CallsCsv</c>: <c>GET /api/calls.csv</c> — every call matching the same filters as <c>GET /api/calls</c> (no paging),
/// streamed as RFC 4180 CSV with CsvHelper, UTF-8; <c>bom=true</c> prefixes a byte-order mark so Excel reads
/// Cyrillic and Polish names right. Times ISO 8601 UTC, durations in seconds.
/// </summary>
public static class CallsCsvEndpoint
{
    private static readonly CsvConfiguration Csv = new(CultureInfo.InvariantCulture) { NewLine = "\r\n" };

    /// <summary>Maps the endpoint.</summary>
    public static void MapCallsCsvEndpoint(this IEndpointRouteBuilder app)
        => app.MapGet("/api/calls.csv", ExportAsync).WithName("CallsCsv").RequireToken("crm").WithTags("Calls")
            .WithSummary("Export calls as CSV")
            .WithDescription("Every call of the token's enterprise matching the same filters as GET /api/calls (no paging), streamed as RFC 4180 CSV.")
            .Produces(StatusCodes.Status200OK, contentType: "text/csv").ProducesValidationProblem().ProducesCrmAuthProblems();

    private static async Task ExportAsync(
        HttpContext http,
        [AsParameters] CallQuery query,
        [FromQuery(Name = "bom"), Description("true: start with a UTF-8 byte-order mark (for Excel).")] string? bom,
        [FromQuery(Name = "sort"), Description("By start time: desc (default) or asc.")] string? sort,
        CallQueries queries,
        CancellationToken ct)
    {
        var (filter, errors) = await CallEndpoints.ReadFilterAsync(http, query, ct);
        if (sort is not (null or "" or "asc" or "desc"))
        {
            errors["sort"] = ["must be one of desc, asc"];
        }

        if (errors.Count > 0)
        {
            await Results.ValidationProblem(errors).ExecuteAsync(http);
            return;
        }

        var withBom = bom is "true" or "1";
        http.Response.ContentType = "text/csv; charset=utf-8";
        http.Response.Headers.ContentDisposition = "attachment; filename=\"calls.csv\"";
        await using var writer = new StreamWriter(http.Response.Body, new UTF8Encoding(withBom), bufferSize: 16 * 1024);
        await using var csv = new CsvWriter(writer, Csv);
        await WriteAsync(csv, queries.StreamAsync(filter, ct, oldestFirst: sort == "asc"), ct);
    }

    /// <summary>Writes the header and one row per call.</summary>
    public static async Task WriteAsync(CsvWriter csv, IAsyncEnumerable<StoredCall> calls, CancellationToken ct)
    {
        string[] header =
        [
            "id", "pbx", "callKey", "direction", "status", "missedReason", "caller", "callerName", "called", "answeredBy",
            "extensions", "trunk", "startedAt", "answeredAt", "endedAt", "ringSeconds", "talkSeconds", "transfers", "ivrDigits", "contactName",
        ];
        foreach (var h in header)
        {
            csv.WriteField(h);
        }

        await csv.NextRecordAsync();
        await foreach (var (id, c, contactName) in calls.WithCancellation(ct))
        {
            csv.WriteField(id);
            csv.WriteField(c.Pbx);
            csv.WriteField(c.CallKey);
            csv.WriteField(CallNames.Of(c.Direction));
            csv.WriteField(CallNames.Of(c.Status));
            csv.WriteField(c.MissedReason);
            csv.WriteField(c.Caller);
            csv.WriteField(c.CallerName);
            csv.WriteField(c.Called);
            csv.WriteField(c.AnsweredBy);
            csv.WriteField(string.Join(' ', c.Extensions));
            csv.WriteField(c.Trunk);
            csv.WriteField(Iso(c.StartedAt));
            csv.WriteField(c.AnsweredAt is { } a ? Iso(a) : null);
            csv.WriteField(Iso(c.EndedAt));
            csv.WriteField(c.RingSeconds);
            csv.WriteField(c.TalkSeconds);
            csv.WriteField(string.Join("; ", c.Transfers.Select(t => $"{t.From}->{t.To}{(t.Answered ? "" : " (unanswered)")}")));
            csv.WriteField(c.IvrDigits);
            csv.WriteField(contactName);
            await csv.NextRecordAsync();
        }
    }

    private static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
