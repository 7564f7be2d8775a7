using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using CloudTelephony.Telephony.Streams;
using CloudTelephony.Tests;

namespace CloudTelephony.Telephony.Tests.Golden;

/// <summary>
/// The call changes of every capture (tests/Golden/changes/), and the engine's guarantees on real traffic: any split of the
/// stream into batches, each followed by a redelivery of the same batch, with the state saved as deltas and a new engine
/// restored from the saved rows before every batch, gives exactly the records and changes of one pass.
/// </summary>
public sealed class ChangeGoldenTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public static TheoryData<string> Captures => GoldenCaptures.Names();

    [Theory]
    [MemberData(nameof(Captures))]
    public void One_pass_gives_the_golden_changes(string name)
    {
        var capture = GoldenCaptures.Find(name);
        var (_, changes) = OnePass(capture);
        GoldenCaptures.Check("changes", capture, "jsonl", Lines(changes));
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void Any_split_with_replays_and_delta_saves_gives_the_records_and_changes_of_one_pass(string name)
    {
        var capture = GoldenCaptures.Find(name);
        var (calls, changes) = OnePass(capture);
        var frames = RecordGoldenTests.Frames(capture);
        var protocol = PbxProtocols.Get(capture.Protocol);
        var store = new DeltaStore();
        var sink = new CallChangeList();
        int[] sizes = [1, 3, 17, 64, 2, 250];
        var start = 0;
        for (var b = 0; start < frames.Count; b++)
        {
            var batch = frames.GetRange(start, Math.Min(sizes[b % sizes.Length], frames.Count - start));
            var engine = store.Restore(protocol, RecordGoldenTests.Options(capture));
            foreach (var f in batch)
            {
                engine.Process(f, sink);
            }

            store.Apply(engine.TakeDelta());

            // the sender redelivers the batch: a fresh engine from the saved rows sees only duplicates
            var again = store.Restore(protocol, RecordGoldenTests.Options(capture));
            var before = sink.Changes.Count;
            foreach (var f in batch)
            {
                Assert.Equal(FrameDisposition.Duplicate, again.Process(f, sink).Disposition);
            }

            Assert.Equal(before, sink.Changes.Count);
            Assert.Empty(again.TakeDelta().Upserts);
            start += batch.Count;
        }

        store.Restore(protocol, RecordGoldenTests.Options(capture)).Flush(sink);
        Assert.Equal(RecordGoldenTests.Lines(calls), RecordGoldenTests.Lines(sink.Completed));
        Assert.Equal(Lines(changes), Lines(sink.Changes));
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void Every_call_opens_first_and_completes_last_once_after_it_ended(string name)
    {
        var (calls, changes) = OnePass(GoldenCaptures.Find(name));
        var merged = changes.Where(c => c.Kind == CallChangeKind.Merged).Select(c => c.CallKey).ToHashSet();
        foreach (var call in changes.GroupBy(c => c.CallKey))
        {
            var list = call.ToList();
            Assert.Equal(Enumerable.Range(0, list.Count), list.Select(c => c.Ordinal));
            Assert.Equal(CallChangeKind.Opened, list[0].Kind);
            if (merged.Contains(call.Key))
            {
                Assert.Equal(CallChangeKind.Merged, list[^1].Kind);
                continue;
            }

            Assert.Equal(CallChangeKind.Completed, list[^1].Kind);
            Assert.Equal(CallChangeKind.Ended, list[^2].Kind);
            Assert.Single(list, c => c.Kind == CallChangeKind.Completed);
        }

        Assert.Equal(calls.Count, changes.Count(c => c.Kind == CallChangeKind.Completed));
    }

    internal static (List<Call> Calls, List<CallChange> Changes) OnePass(GoldenCapture capture)
    {
        var engine = PbxProtocols.Get(capture.Protocol).Create("capture", RecordGoldenTests.Options(capture));
        var sink = new CallChangeList();
        foreach (var frame in RecordGoldenTests.Frames(capture))
        {
            engine.Process(frame, sink);
        }

        engine.Flush(sink);
        return (sink.Completed, sink.Changes);
    }

    private static string Lines(IEnumerable<CallChange> changes)
    {
        var text = new StringBuilder();
        foreach (var c in changes)
        {
            var line = new ChangeLine(c.Kind, c.CallKey, c.Ordinal, c.At, c.Session, c.Seq, c.Extension, c.From, c.To, c.Caller, c.Called,
                c.Call is { } call ? $"{call.Status} {call.Direction}" : null);
            text.Append(JsonSerializer.Serialize(line, Json)).Append('\n');
        }

        return text.ToString();
    }

    private sealed record ChangeLine(CallChangeKind Kind, string CallKey, int Ordinal, DateTimeOffset At, string Session, long Seq,
        string? Extension, string? From, string? To, string? Caller, string? Called, string? Record);
}

/// <summary>What the database keeps of a stream between batches: the stream-level document and one row per open call.</summary>
internal sealed class DeltaStore
{
    private readonly Dictionary<string, string> _calls = new(StringComparer.Ordinal);
    private string? _state;

    public int OpenCalls => _calls.Count;

    public void Apply(StreamDelta delta)
    {
        foreach (var key in delta.Deletes)
        {
            _calls.Remove(key);
        }

        foreach (var row in delta.Upserts)
        {
            _calls[row.Key] = row.State;
        }

        _state = delta.StreamState;
    }

    public StreamCorrelator Restore(IPbxProtocol protocol, CorrelatorOptions options)
        => protocol.Restore("capture", options, _state, _calls.Values.ToList());
}
