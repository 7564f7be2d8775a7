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

    private static async Task<IResult> ExportAsync(
        HttpContext http,
        [AsParameters] CallQuery query,
        [FromQuery(Name = "bom"), Description("true: start with a UTF-8 byte-order mark (for Excel).")] string? bom,
        [FromQuery(Name = "sort"), Description("desc: by start time, newest first (default); asc: oldest first; updated: in the order calls were stored or updated.")] string? sort,
        CallQueries queries,
        CancellationToken ct)
    {
        var (filter, errors) = await CallEndpoints.ReadFilterAsync(http, query, ct);
        if (sort is not (null or "" or "asc" or "desc" or "updated"))
        {
            errors["sort"] = ["must be one of desc, asc, updated"];
        }

        if (bom is not (null or "" or "true" or "false" or "1" or "0"))
        {
            errors["bom"] = ["must be true or false"];
        }

        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }

        return new CsvCalls(queries.StreamAsync(filter, CallEndpoints.OrderOf(sort ?? "desc"), ct), bom is "true" or "1");
    }

    /// <summary>Writes the header and one row per call.</summary>
    public static async Task WriteAsync(CsvWriter csv, IAsyncEnumerable<StoredCall> calls, CancellationToken ct)
    {
        string[] header =
        [
            "id", "pbx", "callKey", "direction", "status", "missedReason", "caller", "callerName", "called", "answeredBy",
            "extensions", "trunk", "startedAt", "answeredAt", "endedAt", "ringSeconds", "talkSeconds", "transfers", "ivrDigits", "contactName",
            "remoteE164", "storedAt",
        ];
        foreach (var h in header)
        {
            csv.WriteField(h);
        }

        await csv.NextRecordAsync();
        await foreach (var stored in calls.WithCancellation(ct))
        {
            var c = stored.Call;
            csv.WriteField(stored.Id);
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
            csv.WriteField(stored.ContactName);
            csv.WriteField(stored.RemoteE164);
            csv.WriteField(stored.StoredAt is { } s ? Iso(s) : null);
            await csv.NextRecordAsync();
        }
    }

    internal static CsvConfiguration Config => Csv;

    private static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}

/// <summary>Endpoint metadata: besides JSON the endpoint answers <c>text/csv</c> (negotiated with <c>Accept</c>).</summary>
public sealed class CsvRepresentation;

/// <summary>
/// A CSV answer of calls (<see cref="CallsCsvEndpoint.WriteAsync"/>): the query runs and its first row is read before the
/// status and headers are sent, so a query that fails answers a problem (500/503) instead of a 200 with a CSV cut short;
/// a failure later in the stream aborts the connection (the client sees an incomplete transfer, never a short file).
/// </summary>
public sealed class CsvCalls(IAsyncEnumerable<StoredCall> calls, bool bom) : IResult
{
    /// <inheritdoc />
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var ct = httpContext.RequestAborted;
        await using var rows = calls.GetAsyncEnumerator(ct);
        var first = await rows.MoveNextAsync();
        httpContext.Response.ContentType = "text/csv; charset=utf-8";
        httpContext.Response.Headers.ContentDisposition = "attachment; filename=\"calls.csv\"";
        await using var writer = new StreamWriter(httpContext.Response.Body, new UTF8Encoding(bom), bufferSize: 16 * 1024);
        await using var csv = new CsvWriter(writer, CallsCsvEndpoint.Config);
        await CallsCsvEndpoint.WriteAsync(csv, Rest(rows, first), ct);
    }

    private static async IAsyncEnumerable<StoredCall> Rest(IAsyncEnumerator<StoredCall> rows, bool first)
    {
        if (!first)
        {
            yield break;
        }

        yield return rows.Current;
        while (await rows.MoveNextAsync())
        {
            yield return rows.Current;
        }
    }
}
