using CloudTelephony.Telephony.Streams;
using CloudTelephony.Tests;

namespace CloudTelephony.Telephony.Tests.Golden;

/// <summary>
/// A database written before the stream engine holds one format-1 document per PBX (tests/…/Legacy/, written by the old
/// correlators): it is read once, the first delta writes the stream state as format 2 with every open call as a row of
/// its own, and the stream continues to exactly the calls of one pass.
/// </summary>
public sealed class LegacyStateTests
{
    [Theory]
    [InlineData("samples/slican-ncp-2025-09-02_04.tsv", 600, 1)]
    [InlineData("samples/ami/HANDMADE_ast18_attended-transfer.txt", 40, 1)]
    [InlineData("samples/ami/HANDMADE_ast18_queue-agent.txt", 20, 1)]
    [InlineData("samples/smdr/ipo-30field-2018-ru.csv", 1, 1)]
    public void A_format_1_document_continues_and_is_rewritten_as_format_2(string name, int cut, int open)
    {
        var capture = GoldenCaptures.Find(name);
        var frames = RecordGoldenTests.Frames(capture);
        var options = RecordGoldenTests.Options(capture);
        var protocol = PbxProtocols.Get(capture.Protocol);
        var legacy = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Legacy", $"{Path.GetFileName(name)}.{cut}.json"));
        Assert.DoesNotContain("\"format\"", legacy);

        // what happened before the upgrade: the first `cut` frames (the new engine gives the old calls: the goldens)
        var before = protocol.Create("capture", options);
        var sink = new CallChangeList();
        frames.Take(cut).ToList().ForEach(f => before.Process(f, sink));

        var upgraded = protocol.Restore("capture", options, legacy);
        Assert.Equal(open, upgraded.OpenCalls);
        var delta = upgraded.TakeDelta();
        Assert.StartsWith("{\"format\":2,", delta.StreamState);
        Assert.Equal(open, delta.Upserts.Count);
        Assert.Empty(delta.Deletes);
        Assert.Empty(upgraded.TakeDelta().Upserts);
        var store = new DeltaStore();
        store.Apply(delta);

        var next = store.Restore(protocol, options);
        foreach (var f in frames.Take(cut))
        {
            Assert.Equal(FrameDisposition.Duplicate, next.Process(f, sink).Disposition);
        }

        frames.Skip(cut).ToList().ForEach(f => next.Process(f, sink));
        next.Flush(sink);

        var (reference, _) = ChangeGoldenTests.OnePass(capture);
        Assert.Equal(RecordGoldenTests.Lines(reference), RecordGoldenTests.Lines(sink.Completed));
    }
}
