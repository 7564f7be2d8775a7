using CloudTelephony.Functions.Commands;
using CloudTelephony.Tests;

namespace CloudTelephony.Functions.Tests.Golden;

/// <summary>
/// <c>./ct correlate</c> on every capture of samples/ and ../shared/fixtures/ prints exactly the JSON Lines (stdout) and
/// summary (stderr) recorded in tests/Golden/correlate/. They change only on purpose (<c>CT_UPDATE_GOLDEN=1</c>).
/// Without ../shared only the captures of samples/ are in the theory data.
/// </summary>
public sealed class CorrelateGoldenTests
{
    public static TheoryData<string> Captures => GoldenCaptures.Names();

    [Theory]
    [MemberData(nameof(Captures))]
    public void Correlate_prints_the_golden_calls(string name)
    {
        var capture = GoldenCaptures.Find(name);
        var output = new StringWriter();
        var errors = new StringWriter();

        var code = CorrelateCommand.Run(capture.Protocol, new FileInfo(capture.Path), capture.TimeZone, "capture", DateTimeOffset.UnixEpoch, output, errors);

        Assert.Equal(0, code);
        GoldenCaptures.Check("correlate", capture, "jsonl", output.ToString());
        GoldenCaptures.Check("correlate", capture, "stderr.txt", errors.ToString());
    }
}
