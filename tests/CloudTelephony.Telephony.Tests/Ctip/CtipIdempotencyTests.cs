using System.Text.Json;
using CloudTelephony.Telephony.Ctip;
using FsCheck;
using FsCheck.Xunit;

namespace CloudTelephony.Telephony.Tests.Ctip;

/// <summary>Replays and batch splits with SaveState/Restore between batches give exactly the calls of one pass.</summary>
public class CtipIdempotencyTests
{
    private static readonly Lazy<string> OnePass = new(() => Json(CtipCapture.Calls));

    private static string Json(List<Call> calls) => JsonSerializer.Serialize(calls);

    [Fact]
    public void Feeding_the_capture_twice_changes_nothing()
    {
        var correlator = CtipCorrelator.Restore(CtipCapture.Pbx, new CorrelatorOptions(), null);
        var calls = new List<Call>();
        foreach (var frame in CtipCapture.Frames)
        {
            correlator.Process(frame, calls);
        }

        var state = correlator.SaveState();
        var count = calls.Count;
        Assert.All(CtipCapture.Frames, f => Assert.Equal(FrameOutcome.Duplicate, correlator.Process(f, calls)));
        Assert.Equal(count, calls.Count);
        Assert.Equal(state, correlator.SaveState());

        correlator.Flush(calls);
        Assert.Equal(OnePass.Value, Json(calls));
    }

    [Property(MaxTest = 40)]
    public bool Any_batch_split_with_restore_and_replays_gives_the_same_calls(PositiveInt[] batchSizes, bool replayEachBatch)
    {
        var frames = CtipCapture.Frames;
        var sizes = batchSizes.Length == 0 ? [frames.Length] : batchSizes.Select(s => 1 + (s.Get % 200)).ToArray();
        var calls = new List<Call>();
        string? state = null;
        for (int at = 0, i = 0; at < frames.Length; at += sizes[i++ % sizes.Length])
        {
            var batch = frames.AsSpan(at, Math.Min(sizes[i % sizes.Length], frames.Length - at)).ToArray();
            var correlator = CtipCorrelator.Restore(CtipCapture.Pbx, new CorrelatorOptions(), state);
            foreach (var frame in batch)
            {
                correlator.Process(frame, calls);
            }

            if (replayEachBatch)
            {
                correlator = CtipCorrelator.Restore(CtipCapture.Pbx, new CorrelatorOptions(), correlator.SaveState());
                foreach (var frame in batch)
                {
                    correlator.Process(frame, calls);
                }
            }

            state = correlator.SaveState();
        }

        var last = CtipCorrelator.Restore(CtipCapture.Pbx, new CorrelatorOptions(), state);
        last.Flush(calls);
        return Json(calls) == OnePass.Value;
    }

    [Fact]
    public void State_round_trips_exactly_at_every_frame()
    {
        var frames = CtipCapture.Frames;
        var correlator = CtipCorrelator.Restore(CtipCapture.Pbx, new CorrelatorOptions(), null);
        var calls = new List<Call>();
        foreach (var frame in frames)
        {
            correlator.Process(frame, calls);
            var state = correlator.SaveState();
            correlator = CtipCorrelator.Restore(CtipCapture.Pbx, new CorrelatorOptions(), state);
            Assert.Equal(state, correlator.SaveState());
        }

        correlator.Flush(calls);
        Assert.Equal(OnePass.Value, Json(calls));
    }

    [Fact]
    public void Frames_as_on_the_wire_with_marker_and_crlf_give_the_same_calls()
    {
        var wire = CtipCapture.Frames.Select(f => f with { Text = "a" + f.Text + "\r\n" });
        Assert.Equal(OnePass.Value, Json(CtipCapture.Correlate(wire)));
    }

    [Fact]
    public void A_new_session_after_a_reconnect_is_not_a_duplicate()
    {
        var correlator = CtipCorrelator.Restore("p", new CorrelatorOptions(), null);
        var calls = new List<Call>();
        var at = new DateTimeOffset(2025, 9, 5, 8, 0, 0, TimeSpan.Zero);
        Assert.Equal(FrameDisposition.Applied, correlator.Process(new PbxFrame("p", "a", 1, at, "RING 101_ 600 0 618 _ _"), calls).Disposition);
        Assert.Equal(FrameDisposition.Duplicate, correlator.Process(new PbxFrame("p", "a", 1, at, "RING 101_ 600 0 618 _ _"), calls).Disposition);
        Assert.Equal(FrameDisposition.Applied, correlator.Process(new PbxFrame("p", "b", 1, at.AddSeconds(5), "REL 101_ 1"), calls).Disposition);
        correlator.Flush(calls);
        Assert.Equal(CallStatus.Missed, Assert.Single(calls).Status);
    }
}
