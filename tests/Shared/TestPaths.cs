namespace CloudTelephony.Tests;

/// <summary>Finds the repository root and the shared fixtures (../shared beside the checkout) from a test's bin folder.</summary>
public static class TestPaths
{
    private static readonly Lazy<string> RepoRootLazy = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "CloudTelephony.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"CloudTelephony.sln not found above {AppContext.BaseDirectory}");
    });

    /// <summary>The checkout's root folder (where CloudTelephony.sln is).</summary>
    public static string RepoRoot => RepoRootLazy.Value;

    /// <summary>The shared folder beside the checkout (DESIGN.md, protocols/, fixtures/); <c>CT_SHARED_DIR</c> overrides.</summary>
    public static string Shared =>
        Environment.GetEnvironmentVariable("CT_SHARED_DIR") is { Length: > 0 } d ? d : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    /// <summary>A file under <c>shared/fixtures/</c>, e.g. <c>Fixture("ctip", "slican-ncp-2025-09-02_04.tsv")</c>.</summary>
    public static string Fixture(params string[] parts) => Path.Combine([Shared, "fixtures", .. parts]);

    /// <summary>A file under the repository's own <c>samples/</c> folder.</summary>
    public static string Sample(params string[] parts) => Path.Combine([RepoRoot, "samples", .. parts]);
}
