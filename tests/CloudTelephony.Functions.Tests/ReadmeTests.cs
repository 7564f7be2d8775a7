using System.CommandLine;
using System.Diagnostics;
using System.Text.RegularExpressions;
using CloudTelephony.Functions.Archive;
using CloudTelephony.Functions.Commands;
using CloudTelephony.Functions.Ingest;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Tests;
using Microsoft.Extensions.Configuration;

namespace CloudTelephony.Functions.Tests;

/// <summary>README.md stays true: every command it names exists with the options it names (and answers --help), and
/// every functions-app setting it names binds to a real property.</summary>
public sealed partial class ReadmeTests
{
    private static readonly string Readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));

    /// <summary>Every <c>./ct ...</c> command line in README (inline code and code blocks), and the rows of the
    /// Administration table as <c>./ct admin ...</c>; alternatives (<c>a\|b</c>) expanded.</summary>
    public static TheoryData<string> CommandLines()
    {
        var lines = new SortedSet<string>(StringComparer.Ordinal);
        foreach (Match m in InlineCode().Matches(Readme))
        {
            var code = m.Groups[1].Value.Replace("\\|", "|", StringComparison.Ordinal);
            if (code.StartsWith("./ct ", StringComparison.Ordinal))
            {
                lines.Add(code);
            }
        }

        foreach (Match m in CodeBlockCommand().Matches(Readme))
        {
            foreach (var part in m.Groups[1].Value.Split('#')[0].Split("&&").Select(p => p.Trim()).Where(p => p.StartsWith("./ct ", StringComparison.Ordinal)))
            {
                lines.Add(part);
            }
        }

        var admin = Readme.IndexOf("Administration (`./ct admin", StringComparison.Ordinal);
        Assert.True(admin > 0, "README has the Administration table");
        foreach (var row in Readme[admin..].Split('\n').Skip(3).TakeWhile(l => l.StartsWith('|')))
        {
            foreach (Match m in InlineCode().Matches(row.Split(" | ")[0]))
            {
                lines.Add("./ct admin " + m.Groups[1].Value.Replace("\\|", "|", StringComparison.Ordinal));
            }
        }

        var data = new TheoryData<string>();
        foreach (var line in lines)
        {
            data.Add(line);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CommandLines))]
    public async Task Every_command_readme_names_exists_with_its_options(string line)
    {
        var words = Tokens(line).Skip(1).ToList(); // after ./ct
        var top = words[0];
        if (top is "admin" or "correlate" or "migrate")
        {
            await CheckHandlerAsync(words, line);
        }
        else if (top == "relay")
        {
            await CheckRelayAsync(words.Skip(1).ToList(), line);
        }
        else
        {
            // the command words before any [optional part], and every --option
            var help = await CtHelpAsync();
            var required = Tokens(line.Split('[')[0]).Skip(1);
            foreach (var w in required.Concat(words.Where(w => w.StartsWith("--", StringComparison.Ordinal))).Where(w => !IsPlaceholder(w)).Distinct())
            {
                Assert.True(Regex.IsMatch(help, $@"(^|[\s\[|(]){Regex.Escape(w.Split('=')[0])}([\s\]|)]|$)", RegexOptions.Multiline),
                    $"README names `{line}`: '{w}' is not in ./ct help");
            }
        }
    }

    private static async Task CheckHandlerAsync(List<string> words, string line)
    {
        foreach (var alternative in Expand(words))
        {
            Command command = HandlerCommand.Create();
            var path = new List<string>();
            foreach (var w in alternative.TakeWhile(w => !w.StartsWith('-')))
            {
                if (IsPlaceholder(w))
                {
                    break;
                }

                var sub = command.Subcommands.FirstOrDefault(c => c.Name == w || c.Aliases.Contains(w));
                Assert.True(sub is not null, $"README names `{line}`: '{w}' is not a command of './ct {string.Join(' ', path)}'");
                command = sub;
                path.Add(w);
            }

            foreach (var option in alternative.Where(w => w.StartsWith("--", StringComparison.Ordinal) && w != "--help"))
            {
                var name = option.Split('=')[0];
                Assert.True(command.Options.Any(o => o.Name == name || o.Aliases.Contains(name)),
                    $"README names `{line}`: '{string.Join(' ', path)}' has no option {name}");
            }

            var help = new StringWriter();
            Assert.Equal(0, await Cli.InvokeAsync(HandlerCommand.Create(), [.. path, "--help"], help));
        }
    }

    private static async Task CheckRelayAsync(List<string> words, string line)
    {
        foreach (var alternative in Expand(words))
        {
            var path = alternative.TakeWhile(w => !w.StartsWith('-') && !IsPlaceholder(w)).ToList();
            var help = new StringWriter();
            var errors = new StringWriter();
            Assert.True(await CloudTelephony.Relay.RelayCli.InvokeAsync([.. path, "--help"], errors, default, help) == 0, $"README names `{line}`: relay {string.Join(' ', path)} --help failed: {errors}");
            foreach (var option in alternative.Where(w => w.StartsWith("--", StringComparison.Ordinal)))
            {
                Assert.Contains(option.Split('=')[0], help.ToString(), StringComparison.Ordinal);
            }
        }
    }

    private static string? _ctHelp;

    private static async Task<string> CtHelpAsync()
    {
        if (_ctHelp is not null)
        {
            return _ctHelp;
        }

        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, WorkingDirectory = TestPaths.RepoRoot };
        start.ArgumentList.Add("./ct");
        start.ArgumentList.Add("help");
        using var p = Process.Start(start)!;
        var text = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return _ctHelp = text;
    }

    /// <summary>Words of a command line without the optional brackets, placeholders cut at <c>…</c>.</summary>
    private static IEnumerable<string> Tokens(string line)
        => line.Replace("[", " ", StringComparison.Ordinal).Replace("]", " ", StringComparison.Ordinal)
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .TakeWhile(w => w is not ("…" or "...") && !w.EndsWith('…'));

    /// <summary>Each combination of the alternatives of the command words (<c>a|b</c>); option values are left alone.</summary>
    private static IEnumerable<List<string>> Expand(List<string> words)
    {
        IEnumerable<List<string>> result = [[]];
        var afterOption = false;
        foreach (var w in words)
        {
            var choices = !afterOption && !w.StartsWith('-') && w.Contains('|', StringComparison.Ordinal) ? w.Split('|') : [w];
            result = result.SelectMany(r => choices.Select(c => new List<string>(r) { c })).ToList();
            afterOption = w.StartsWith('-');
        }

        return result;
    }

    /// <summary>A value or placeholder rather than a command word: <c>ID</c>, <c>FILE</c>, <c>N</c>, <c>&lt;id&gt;</c>,
    /// numbers, dates, paths, <c>a|b</c> value lists.</summary>
    private static bool IsPlaceholder(string w)
        => w.Length == 0 || w.Any(char.IsDigit) || w.Contains('<', StringComparison.Ordinal) || w.Contains('/', StringComparison.Ordinal)
           || w.Contains('.', StringComparison.Ordinal) || w.Contains('=', StringComparison.Ordinal) && !w.StartsWith('-')
           || (w.All(c => char.IsUpper(c) || c == '_') && w.Length <= 8);

    /// <summary>Functions-app settings README names (<c>Sms__MaxAttempts</c>, <c>Routing:NameCacheSeconds</c>, ...).</summary>
    public static TheoryData<string> Settings()
    {
        var data = new TheoryData<string>();
        foreach (var key in SettingKey().Matches(Readme).Select(m => m.Value.Replace("__", ":", StringComparison.Ordinal).TrimEnd(':')).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            data.Add(key);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Settings))]
    public void Every_setting_readme_names_binds_to_a_property(string key)
    {
        var section = key.Split(':')[0];
        var rest = key[(section.Length + 1)..];
        // the classes bound from each section (Ingest holds the sweep, relay-access and engine-cache settings)
        object[] targets = section switch
        {
            "Sms" => [new SmsOptions()],
            "Routing" => [new RoutingOptions()],
            "Ingest" => [new SweepOptions(), new IngestAccessOptions(), new IngestOptions()],
            "Events" => [new CloudTelephony.Functions.Events.EventOptions()],
            "Archive" => [new ArchiveOptions()],
            "ServiceBus" => [new CloudTelephony.ServiceBus.ServiceBusOptions()],
            "Telemetry" => [new TelemetrySection()],
            "ConnectionStrings" => [new ConnectionStringsSection()],
            _ => throw new InvalidOperationException($"no options type for section {section}"),
        };
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [rest] = "1" }).Build();
        var problems = new List<string>();
        foreach (var target in targets)
        {
            try
            {
                config.Bind(target, o => o.ErrorOnUnknownConfiguration = true);
                return;
            }
            catch (InvalidOperationException ex) when (ex.Message.StartsWith("Failed to convert", StringComparison.Ordinal))
            {
                return; // "1" is not of the property's type: the property exists
            }
            catch (InvalidOperationException ex)
            {
                problems.Add($"{target.GetType().Name}: {ex.Message}");
            }
        }

        Assert.Fail($"README names setting {key}, which no class bound from section {section} has: {string.Join("; ", problems)}");
    }

    private sealed class TelemetrySection
    {
        public bool Console { get; set; }
    }

    private sealed class ConnectionStringsSection
    {
        public string? Postgres { get; set; }
    }

    [GeneratedRegex(@"(?<!`)`([^`\n]+)`(?!`)")]
    private static partial Regex InlineCode();

    [GeneratedRegex(@"^(\./ct [^\n]+)$", RegexOptions.Multiline)]
    private static partial Regex CodeBlockCommand();

    [GeneratedRegex(@"\b(?:Sms|Routing|Ingest|Archive|ServiceBus|Telemetry|ConnectionStrings)(?:__|:)[A-Z][A-Za-z]*(?:(?:__|:)[A-Z][A-Za-z]*)*")]
    private static partial Regex SettingKey();
}
