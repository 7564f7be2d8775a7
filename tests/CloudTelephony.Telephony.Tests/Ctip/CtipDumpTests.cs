using Xunit.Abstractions;

namespace CloudTelephony.Telephony.Tests.Ctip;

public class CtipDumpTests(ITestOutputHelper output)
{
    [Fact]
    public void Dump()
    {
        foreach (var c in CtipCapture.Calls)
        {
            output.WriteLine(CtipCapture.Describe(c));
        }
    }
}
