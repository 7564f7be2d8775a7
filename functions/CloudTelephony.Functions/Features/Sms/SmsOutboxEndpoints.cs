using System.ComponentModel;
using CloudTelephony.Functions.Calls;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using CloudTelephony.Telephony.Routing;
using Microsoft.AspNetCore.Mvc;

namespace CloudTelephony.Functions.Sms;

/// <summary><c>GET /api/sms</c> answer: a page of the enterprise's SMS outbox, newest first.</summary>
/// <param name="Items">The SMS.</param>
/// <param name="Total">SMS matching the filter.</param>
/// <param name="Page">1-based page.</param>
/// <param name="PageSize">SMS per page.</param>
/// <param name="ByStatus">SMS per status (NEW, SENDING, SENT, ERROR) in the whole outbox of the enterprise.</param>
public sealed record SmsOutboxPageDto(IReadOnlyList<SmsDto> Items, long Total, int Page, int PageSize, IReadOnlyDictionary<string, long> ByStatus);

/// <summary><c>POST /api/sms/{id}/retry</c> answer (202).</summary>
/// <param name="Id">The SMS.</param>
/// <param name="Status">Always <c>NEW</c>: queued again with a fresh attempt budget.</param>
public sealed record SmsRetryDto(long Id, string Status);

/// <summary>Query of <c>GET /api/sms</c>.</summary>
public sealed class SmsOutboxQuery
{
    /// <summary>Status filter.</summary>
    [FromQuery(Name = "status"), Description("NEW | SENDING | SENT | ERROR")]
    public string? Status { get; init; }

    /// <summary>Recipient filter.</summary>
    [FromQuery(Name = "to"), Description("Only SMS to this number (any common format).")]
    public string? To { get; init; }

    /// <summary>1-based page.</summary>
    [FromQuery(Name = "page"), Description("Page number from 1 (default 1).")]
    public string? Page { get; init; }

    /// <summary>Rows per page.</summary>
    [FromQuery(Name = "pageSize"), Description("SMS per page, 1–500 (default 50).")]
    public string? PageSize { get; init; }
}

/// <summary>
/// The SMS outbox for people: <c>SmsList</c> (<c>GET /api/sms</c>: status, attempts, errors, newest first) and
/// <c>SmsRetry</c> (<c>POST /api/sms/{id}/retry</c>: a failed SMS queued again). Token scope crm, the token's enterprise only.
/// </summary>
public static class SmsOutboxEndpoints
{
    /// <summary>Maps the endpoints.</summary>
    public static void MapSmsOutboxEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/sms", ListAsync).WithName("SmsList").RequireToken("crm").WithTags("SMS")
            .WithSummary("The SMS outbox")
            .WithDescription("The enterprise's SMS, newest first, with status, attempts, the last error and the provider's code; counts per status.")
            .Produces<SmsOutboxPageDto>().ProducesValidationProblem().ProducesCrmAuthProblems();
        app.MapPost("/api/sms/{id:long}/retry", RetryAsync).WithName("SmsRetry").RequireToken("crm").WithTags("SMS")
            .WithSummary("Send a failed SMS again")
            .WithDescription("An SMS in ERROR goes back to NEW, due now, with a fresh attempt budget (its last error stays until the next attempt). 202; 404 for an unknown id or an SMS of another enterprise; 409 when the SMS is not in ERROR.")
            .Produces<SmsRetryDto>(StatusCodes.Status202Accepted).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesCrmAuthProblems();
    }

    private static async Task<IResult> ListAsync(HttpContext http, [AsParameters] SmsOutboxQuery query, SmsOutboxQueries outbox, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        var status = string.IsNullOrWhiteSpace(query.Status) ? null : query.Status.Trim().ToUpperInvariant();
        if (status is not null && !SmsOutboxQueries.Statuses.Contains(status))
        {
            errors["status"] = [$"must be one of {string.Join(", ", SmsOutboxQueries.Statuses)}"];
        }

        string? to = null;
        if (!string.IsNullOrWhiteSpace(query.To))
        {
            to = PhoneNormalizer.ToE164(query.To, await CrmContext.RegionAsync(http, ct));
            if (to is null)
            {
                errors["to"] = [$"'{query.To}' is not a phone number"];
            }
        }

        var page = CallEndpoints.Int(query.Page, "page", 1, 1, int.MaxValue, errors);
        var size = CallEndpoints.Int(query.PageSize, "pageSize", 50, 1, 500, errors);
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }

        var result = await outbox.ListAsync(http.ApiToken().EnterpriseId, status, to, page, size, ct);
        var items = result.Items.Select(r => new SmsDto(
            r.Id, r.To, r.Text, r.Status, r.Attempts, r.NextAttemptAt, r.LastError, r.Provider, r.ProviderCode, r.ProviderMessageId,
            r.OriginRuleId, r.OriginUser, r.CallId, r.CreatedAt, r.SentAt)).ToList();
        return Results.Ok(new SmsOutboxPageDto(items, result.Total, result.Page, result.PageSize, result.ByStatus));
    }

    private static async Task<IResult> RetryAsync(long id, HttpContext http, SmsOutboxQueries outbox, SmsQueue queue, TimeProvider clock, CancellationToken ct)
    {
        switch (await outbox.RetryAsync(http.ApiToken().EnterpriseId, id, clock.GetUtcNow(), ct))
        {
            case SmsRetryOutcome.Requeued:
                queue.Enqueue([id]);
                return Results.Accepted($"/api/sms/{id}", new SmsRetryDto(id, "NEW"));
            case SmsRetryOutcome.NotFailed:
                return Results.Problem(statusCode: 409, title: "only a failed SMS can be retried", detail: $"sms {id} is not in ERROR");
            default:
                return Results.Problem(statusCode: 404, title: "sms not found", detail: $"no sms with id {id}");
        }
    }
}
