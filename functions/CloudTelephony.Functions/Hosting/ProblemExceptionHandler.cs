using Microsoft.AspNetCore.Diagnostics;
using Npgsql;

namespace CloudTelephony.Functions.Hosting;

/// <summary>
/// The app's one exception-to-problem mapping (RFC 9457 problem details through <see cref="IProblemDetailsService"/>):
/// the database unreachable or failing (an <see cref="NpgsqlException"/>, a pool timeout) → 503 with
/// <c>Retry-After: <see cref="RetryAfterSeconds"/></c> on every endpoint; anything else → 500 with no internals in the
/// body. Both are logged with their <see cref="LogEvents"/> id.
/// </summary>
public sealed class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    /// <summary>Seconds a client should wait before retrying while the database is unavailable.</summary>
    public const int RetryAfterSeconds = 5;

    /// <summary>Whether <paramref name="ex"/> means the database is unavailable (down, restarting, unreachable, pool
    /// exhausted) rather than a bug.</summary>
    public static bool IsDatabaseUnavailable(Exception ex)
        => ex is NpgsqlException || ex.InnerException is NpgsqlException
           || (ex is InvalidOperationException or TimeoutException && ex.Source == "Npgsql");

    /// <inheritdoc/>
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (httpContext.Response.HasStarted || exception is BadHttpRequestException)
        {
            return false; // a malformed or too large request keeps its own status (413, 400: RequestBodies)
        }

        int status;
        string title, detail;
        if (IsDatabaseUnavailable(exception))
        {
            logger.LogError(LogEvents.DatabaseUnavailable, "{Method} {Path}: database unavailable: {Message}",
                httpContext.Request.Method, Telemetry.PhoneMask.MaskText(httpContext.Request.Path.Value), exception.Message);
            status = StatusCodes.Status503ServiceUnavailable;
            title = "database unavailable";
            detail = $"the database cannot be reached; retry in {RetryAfterSeconds} s";
            httpContext.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        else
        {
            logger.LogError(LogEvents.UnhandledError, exception, "{Method} {Path} failed",
                httpContext.Request.Method, Telemetry.PhoneMask.MaskText(httpContext.Request.Path.Value));
            status = StatusCodes.Status500InternalServerError;
            title = "internal error";
            detail = "the request failed; the error is logged";
        }

        httpContext.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
    }
}
