using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;

namespace CloudTelephony.Functions.Commands;

/// <summary>
/// How every <c>handler</c> command line is parsed and run: a mistake in the command line (unknown option, missing or
/// invalid value, a file that does not exist) is one line on standard error and exit code 2; <c>--help</c> prints help
/// and exits 0. Usage lines name the program as the operator typed it: <c>./ct</c> when <c>CT_CLI_NAME</c> says so
/// (the <c>ct</c> script sets it), else <c>handler</c>.
/// </summary>
public static partial class Cli
{
    /// <summary>Environment variable naming the program in usage lines.</summary>
    public const string NameVariable = "CT_CLI_NAME";

    /// <summary>The program name in usage lines.</summary>
    public static string Name => Environment.GetEnvironmentVariable(NameVariable) is { Length: > 0 } n ? n : "handler";

    /// <summary>A root command named <see cref="Name"/> with <c>--help</c>.</summary>
    /// <param name="description">What the program does.</param>
    public static Command Root(string description) => new(Name, description) { Options = { new HelpOption() } };

    /// <summary>Parses and runs <paramref name="args"/> against <paramref name="root"/>.</summary>
    /// <returns>The action's exit code; 2 for a command-line mistake.</returns>
    public static async Task<int> InvokeAsync(Command root, IReadOnlyList<string> args, TextWriter? output = null, TextWriter? errors = null, CancellationToken ct = default)
    {
        var parse = root.Parse(args);
        errors ??= output ?? Console.Error;
        if (parse.Errors.Count > 0 && parse.Action is not HelpAction)
        {
            var path = string.Join(' ', Path(parse.CommandResult));
            var more = parse.Errors.Count > 1 ? $" (and {parse.Errors.Count - 1} more)" : "";
            // A mistyped word explains the rest ("Required command was not provided" follows from it).
            var first = parse.Errors.OrderBy(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal) ? 0 : 1).First();
            var message = TypeName().Replace(first.Message.TrimEnd('.'), m => $"as {Friendly(m.Groups[1].Value)}");
            errors.WriteLine($"error: {message}{more}; see {path} --help");
            return 2;
        }

        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        if (output is not null)
        {
            config.Output = output;
        }

        config.Error = errors;
        return await parse.InvokeAsync(config, ct);
    }

    /// <summary>A user's name for a .NET type in a parse error.</summary>
    private static string Friendly(string type) => type switch
    {
        _ when type.Contains("Int32", StringComparison.Ordinal) || type.Contains("Int64", StringComparison.Ordinal) => "a whole number",
        _ when type.Contains("Double", StringComparison.Ordinal) => "a number",
        _ when type.Contains("DateTimeOffset", StringComparison.Ordinal) => "a date and time (ISO 8601)",
        _ when type.Contains("Boolean", StringComparison.Ordinal) => "true or false",
        _ => type,
    };

    [GeneratedRegex(@"as expected type '([^']+)'")]
    private static partial Regex TypeName();

    private static IEnumerable<string> Path(CommandResult result)
    {
        var names = new Stack<string>();
        for (SymbolResult? r = result; r is not null; r = r.Parent)
        {
            if (r is CommandResult c)
            {
                names.Push(c.Command.Name);
            }
        }

        return names;
    }
}
