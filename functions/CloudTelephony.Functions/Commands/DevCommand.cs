using System.CommandLine;
using System.Xml.Linq;

namespace CloudTelephony.Functions.Commands;

/// <summary><c>dev trx-totals DIR</c>: developer helpers of the <c>ct</c> script that need a real parser.</summary>
public static class DevCommand
{
    /// <summary>Builds the command tree.</summary>
    public static Command Create()
    {
        var dir = new Argument<DirectoryInfo>("dir") { Description = "folder of .trx files (one per test project)" };
        dir.AcceptExistingOnly();
        var totals = new Command("trx-totals", "Sum the passed and failed counters of every .trx file in a folder: prints \"N passed, N failed\"") { dir };
        totals.SetAction(parse =>
        {
            var (passed, failed) = Totals(parse.GetValue(dir)!);
            Console.WriteLine($"{passed} passed, {failed} failed");
            return 0;
        });
        return new Command("dev", "Developer helpers used by ./ct") { totals };
    }

    /// <summary>Sums <c>ResultSummary/Counters</c> (<c>passed</c>, <c>failed</c>) of every <c>*.trx</c> in <paramref name="dir"/>
    /// (Visual Studio test results, namespace <c>http://microsoft.com/schemas/VisualStudio/TeamTest/2010</c>).</summary>
    /// <exception cref="System.Xml.XmlException">A file is not XML.</exception>
    public static (long Passed, long Failed) Totals(DirectoryInfo dir)
    {
        long passed = 0, failed = 0;
        foreach (var file in dir.EnumerateFiles("*.trx"))
        {
            var counters = XDocument.Load(file.FullName).Descendants().FirstOrDefault(e => e.Name.LocalName == "Counters");
            passed += (long?)counters?.Attribute("passed") ?? 0;
            failed += (long?)counters?.Attribute("failed") ?? 0;
        }

        return (passed, failed);
    }
}
