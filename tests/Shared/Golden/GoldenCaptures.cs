using System.Text;

namespace CloudTelephony.Tests;

/// <summary>One capture file the golden tests replay: where it is, its protocol and the PBX time zone its tests assume.</summary>
/// <param name="Name">Path relative to its root, prefixed <c>samples/</c> or <c>fixtures/</c> (e.g. <c>fixtures/ami/asterisk20/b_ringgroup_answered.txt</c>).</param>
/// <param name="Path">Full path of the capture.</param>
/// <param name="Protocol"><c>ctip</c>, <c>ami</c> or <c>smdr</c>.</param>
/// <param name="TimeZone">IANA zone passed as <c>--time-zone</c>.</param>
public sealed record GoldenCapture(string Name, string Path, string Protocol, string TimeZone)
{
    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>
/// Every capture in <c>samples/</c> and <c>../shared/fixtures/</c> (ctip <c>*.tsv</c>, ami <c>*.txt</c>, smdr <c>*.csv</c>)
/// and its golden output under <c>tests/Golden/</c>. The goldens are the calls each capture gives today; they change only
/// on purpose: run the golden tests with <c>CT_UPDATE_GOLDEN=1</c> to rewrite them, then review the diff.
/// </summary>
public static class GoldenCaptures
{
    /// <summary>Set to <c>1</c> to rewrite the golden files instead of comparing.</summary>
    public const string UpdateVariable = "CT_UPDATE_GOLDEN";

    /// <summary>True when <see cref="UpdateVariable"/> is <c>1</c>.</summary>
    public static bool Updating => Environment.GetEnvironmentVariable(UpdateVariable) == "1";

    /// <summary>Folder of the golden files (in the source tree, not the bin folder).</summary>
    public static string Folder => System.IO.Path.Combine(TestPaths.RepoRoot, "tests", "Golden");

    /// <summary>True when the shared fixtures are present beside the checkout.</summary>
    public static bool SharedPresent => Directory.Exists(System.IO.Path.Combine(TestPaths.Shared, "fixtures"));

    /// <summary>The captures of <c>samples/</c>, then of <c>../shared/fixtures/</c> when present, in name order.</summary>
    public static IReadOnlyList<GoldenCapture> All()
    {
        var list = Scan("samples", System.IO.Path.Combine(TestPaths.RepoRoot, "samples")).ToList();
        if (SharedPresent)
        {
            list.AddRange(Scan("fixtures", System.IO.Path.Combine(TestPaths.Shared, "fixtures")));
        }

        return list;
    }

    /// <summary>Names of <see cref="All"/> as xUnit theory data.</summary>
    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var c in All())
        {
            data.Add(c.Name);
        }

        return data;
    }

    /// <summary>The capture called <paramref name="name"/>.</summary>
    public static GoldenCapture Find(string name) => All().Single(c => c.Name == name);

    /// <summary>
    /// Compares <paramref name="actual"/> with the golden file <c>tests/Golden/{kind}/{capture}.{extension}</c>, or
    /// rewrites it when <see cref="Updating"/>. Fails with the first differing line.
    /// </summary>
    public static void Check(string kind, GoldenCapture capture, string extension, string actual)
    {
        var path = System.IO.Path.Combine(Folder, kind, capture.Name + "." + extension);
        actual = actual.Replace("\r\n", "\n", StringComparison.Ordinal);
        if (Updating)
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
            File.WriteAllText(path, actual, new UTF8Encoding(false));
            return;
        }

        Assert.True(File.Exists(path), $"no golden file {path}; run the test with {UpdateVariable}=1 to record it, then review it");
        var expected = File.ReadAllText(path).Replace("\r\n", "\n", StringComparison.Ordinal);
        if (expected == actual)
        {
            return;
        }

        var want = expected.Split('\n');
        var got = actual.Split('\n');
        for (var i = 0; i < Math.Max(want.Length, got.Length); i++)
        {
            var w = i < want.Length ? want[i] : "<end>";
            var g = i < got.Length ? got[i] : "<end>";
            if (w != g)
            {
                Assert.Fail($"{capture.Name} ({kind}) differs from {path} at line {i + 1} ({want.Length} lines expected, {got.Length} got):\nexpected: {w}\nactual:   {g}\n(set {UpdateVariable}=1 only if the change is intended)");
            }
        }
    }

    private static IEnumerable<GoldenCapture> Scan(string prefix, string root)
    {
        if (!Directory.Exists(root))
        {
            yield break;
        }

        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var relative = System.IO.Path.GetRelativePath(root, file).Replace('\\', '/');
            var protocol = System.IO.Path.GetExtension(file) switch
            {
                ".tsv" => "ctip",
                ".txt" when relative.StartsWith("ami/", StringComparison.Ordinal) => "ami",
                ".csv" => "smdr",
                _ => null,
            };
            if (protocol is not null)
            {
                yield return new GoldenCapture($"{prefix}/{relative}", file, protocol, ZoneOf(protocol, relative));
            }
        }
    }

    /// <summary>The zone each capture's own tests use: CTIP captures are from a Polish office; the SMDR crisisline file is
    /// from British Columbia and the ru file from Moscow (tests/CloudTelephony.Telephony.Tests/Smdr/SmdrFixtures.cs); the rest UTC.</summary>
    private static string ZoneOf(string protocol, string relative) => protocol switch
    {
        "ctip" => "Europe/Warsaw",
        "smdr" when relative.Contains("crisisline", StringComparison.Ordinal) => "America/Vancouver",
        "smdr" when relative.Contains("-ru", StringComparison.Ordinal) => "Europe/Moscow",
        _ => "UTC",
    };
}
