using CloudTelephony.Contracts;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Tests;

namespace CloudTelephony.Functions.Tests;

/// <summary>The real Slican capture as envelopes of one session, with the original receive times.</summary>
public static class Capture
{
    public static IReadOnlyList<Envelope> Ctip(string pbx = "slican", string session = "s1")
        => CaptureFile.Read(TestPaths.Fixture("ctip", "slican-ncp-2025-09-02_04.tsv"), Protocols.Ctip)
            .Select((f, i) => new Envelope(pbx, Protocols.Ctip, session, i + 1, f.ReceivedAt!.Value.ToUniversalTime(), "a" + f.Frame))
            .ToList();
}
