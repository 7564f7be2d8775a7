using System.CommandLine;
using System.Globalization;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Storage;
using Npgsql;

namespace CloudTelephony.Functions.Commands;

/// <summary><c>report --pbx P</c>: prints a PBX's stored calls (oldest first) and the counts by direction and status.</summary>
public static class ReportCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var pbx = new Option<string?>("--pbx") { Description = "only this PBX" };
        var limit = new Option<int>("--limit") { Description = "calls to list (0 = counts only)", DefaultValueFactory = _ => 200 };
        var api = new Option<string?>("--api") { Description = "base URL to print links to" };
        var command = new Command("report", "Print stored calls and counts by direction and status") { pbx, limit, api };
        command.SetAction(async (parse, ct) =>
        {
            await using var db = NpgsqlDataSource.Create(AppConfig.ConnectionString(AppConfig.Load()));
            await PrintAsync(new CallQueries(db), new CallFilter(Pbx: parse.GetValue(pbx)), parse.GetValue(limit), parse.GetValue(api), Console.Out, ct);
            return 0;
        });
        return command;
    }

    /// <summary>Writes the report to <paramref name="output"/>.</summary>
    public static async Task PrintAsync(CallQueries queries, CallFilter filter, int limit, string? api, TextWriter output, CancellationToken ct)
    {
        var inv = CultureInfo.InvariantCulture;
        if (limit > 0)
        {
            var page = await queries.ListAsync(filter, 1, limit, ct);
            output.WriteLine($"{"started (UTC)",-23} {"direction",-9} {"status",-9} {"caller",-13} {"called",-13} {"answered",-8} {"ring s",7} {"talk s",7}  extensions");
            foreach (var (id, c, _) in page.Items.Reverse())
            {
                output.WriteLine(string.Create(inv,
                    $"{c.StartedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss.fff} {Name(c.Direction),-9} {Name(c.Status),-9} {c.Caller ?? "-",-13} {c.Called ?? "-",-13} {c.AnsweredBy ?? "-",-8} {c.RingSeconds,7:F1} {c.TalkSeconds,7:F1}  {string.Join(",", c.Extensions)}{(c.Transfers.Count > 0 ? $"  transfers: {string.Join(", ", c.Transfers.Select(t => $"{t.From}->{t.To}{(t.Answered ? "" : " (unanswered)")}"))}" : "")}  #{id}"));
            }

            if (page.Total > page.Items.Count)
            {
                output.WriteLine($"… {page.Total - page.Items.Count} older calls not listed");
            }

            output.WriteLine();
        }

        var counts = await queries.SummaryAsync(filter, ct);
        output.WriteLine($"calls by direction and status ({counts.Sum(c => c.Count)} in all):");
        foreach (var c in counts)
        {
            output.WriteLine($"  {c.Direction,-9} {c.Status,-9} {c.Count,6}");
        }

        if (api is not null)
        {
            output.WriteLine($"API: {api}/api/calls{(filter.Pbx is null ? "" : $"?pbx={filter.Pbx}")}");
        }
    }

    private static string Name(Telephony.CallDirection d) => CallNames.Of(d);

    private static string Name(Telephony.CallStatus s) => CallNames.Of(s);
}
