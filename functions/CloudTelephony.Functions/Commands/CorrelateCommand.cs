using System.CommandLine;
using System.Text.Json;
using CloudTelephony.Contracts;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Telephony;
using CloudTelephony.Telephony.Streams;

namespace CloudTelephony.Functions.Commands;

/// <summary>
/// <c>correlate --protocol P --input FILE [--time-zone Z] [--pbx ID] [--trunk ENDPOINT]... [--extension-pattern RE]
/// [--internal-context CTX]...</c>: offline, no database. Reads a capture
/// (see <see cref="CaptureFile"/>), correlates it and writes one JSON object per call to stdout (JSON Lines,
/// <see cref="CallLine"/>), ordered by start time. Parse errors go to stderr with their line number.
/// </summary>
public static class CorrelateCommand
{
    /// <summary>The session id given to a capture's frames (seq = frame number in the file, from 1).</summary>
    public const string CaptureSession = "capture";

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var protocol = new Option<string>("--protocol") { Description = string.Join(", ", PbxProtocols.All.Select(p => $"{p.Name} ({p.Title})")), Required = true };
        protocol.AcceptOnlyFromAmong([.. PbxProtocols.Names]);
        var input = new Option<FileInfo>("--input") { Description = "capture file: receivedAt<TAB>frame lines, JSON Lines envelopes, raw AMI blocks or SMDR CSV", Required = true };
        input.AcceptExistingOnly();
        var zone = new Option<string>("--time-zone") { Description = "IANA zone of the PBX (times without offset; SMDR local times)", DefaultValueFactory = _ => "UTC" };
        var pbx = new Option<string>("--pbx") { Description = "PBX id stamped on the calls", DefaultValueFactory = _ => "capture" };
        var clockStart = new Option<DateTimeOffset>("--clock-start")
        {
            Description = "receive time given to frames the capture has no time for (one millisecond apart)",
            DefaultValueFactory = _ => DateTimeOffset.UnixEpoch,
        };

        var trunk = new Option<string[]>("--trunk")
        {
            Description = "AMI: a trunk endpoint (technology/resource such as SIP/provider or PJSIP/trunk1, an endpoint name or a context): its channels are trunks, every other channel an extension; repeatable. Default: inferred from the stream",
            AllowMultipleArgumentsPerToken = false,
        };
        var pattern = new Option<string?>("--extension-pattern") { Description = "AMI: regular expression an extension number matches as a whole (e.g. 2\\d\\d)" };
        var internalContext = new Option<string[]>("--internal-context") { Description = "AMI: a dialplan context whose channels are phones; repeatable" };
        var events = new Option<bool>("--events") { Description = "print the live call events (CloudEvents, JSON Lines) the capture produces instead of the calls" };
        var enterprise = new Option<string>("--enterprise") { Description = "enterprise name put into the events' enterprise attribute (with --events)", DefaultValueFactory = _ => "default" };

        var command = new Command("correlate", "Correlate a capture file into call records (JSON Lines on stdout); no database needed")
        {
            protocol, input, zone, pbx, clockStart, trunk, pattern, internalContext, events, enterprise,
        };
        command.SetAction(parse =>
        {
            var plan = new NumberPlan(parse.GetValue(trunk) ?? [], parse.GetValue(pattern), parse.GetValue(internalContext) ?? []);
            return parse.GetValue(events)
                ? RunEvents(parse.GetValue(protocol)!, parse.GetValue(input)!, parse.GetValue(zone)!, parse.GetValue(pbx)!, parse.GetValue(clockStart),
                    parse.GetValue(enterprise)!, Console.Out, Console.Error, plan)
                : Run(parse.GetValue(protocol)!, parse.GetValue(input)!, parse.GetValue(zone)!, parse.GetValue(pbx)!, parse.GetValue(clockStart),
                    Console.Out, Console.Error, plan);
        });
        return command;
    }

    /// <summary>Runs the correlation; returns the process exit code (0, or 2 for a bad time zone, number plan or unreadable file).</summary>
    public static int Run(string protocol, FileInfo input, string zoneId, string pbx, DateTimeOffset clockStart, TextWriter output, TextWriter errors, NumberPlan? plan = null)
    {
        plan ??= NumberPlan.None;
        if (plan.Problem("--trunk", "--extension-pattern") is { } planProblem)
        {
            errors.WriteLine($"error: {planProblem}");
            return 2;
        }

        if (!TimeZoneInfo.TryFindSystemTimeZoneById(zoneId, out var zone))
        {
            errors.WriteLine($"error: unknown time zone '{zoneId}' (use an IANA id such as Europe/Warsaw)");
            return 2;
        }

        CaptureCalls result;
        try
        {
            result = Correlate(protocol, [input], zone, pbx, clockStart, (seq, error) => errors.WriteLine($"frame {seq}: {error}"), plan);
        }
        catch (Exception ex) when (ex is FormatException or IOException)
        {
            errors.WriteLine($"error: {input.Name}: {ex.Message}");
            return 2;
        }

        foreach (var call in result.Calls)
        {
            output.WriteLine(JsonSerializer.Serialize(CallLine.From(call), ApiJson.Default.CallLine));
        }

        errors.WriteLine($"{result.Frames} frames, {result.ParseErrors} parse errors, {result.Calls.Count} calls");
        return 0;
    }

    /// <summary>
    /// <c>--events</c>: the CloudEvents the capture produces, one JSON object a line in the order ingest writes them (per
    /// frame, per call in order), exactly as webhooks, the topic and <c>GET /api/events</c> carry them — except that no
    /// database is at hand: no caller names from contacts, and <c>call.completed</c>'s call has id 0, no contact name or
    /// remote number and no stored time. Returns the exit code (0, or 2 for a bad zone or unreadable file).
    /// </summary>
    public static int RunEvents(string protocol, FileInfo input, string zoneId, string pbx, DateTimeOffset clockStart, string enterprise, TextWriter output, TextWriter errors, NumberPlan? plan = null)
    {
        plan ??= NumberPlan.None;
        if (plan.Problem("--trunk", "--extension-pattern") is { } planProblem)
        {
            errors.WriteLine($"error: {planProblem}");
            return 2;
        }

        if (!TimeZoneInfo.TryFindSystemTimeZoneById(zoneId, out var zone))
        {
            errors.WriteLine($"error: unknown time zone '{zoneId}' (use an IANA id such as Europe/Warsaw)");
            return 2;
        }

        try
        {
            var n = 0;
            var (frames, parseErrors) = Events(protocol, [input], zone, pbx, clockStart, enterprise, e =>
            {
                n++;
                output.WriteLine(e.Row.Body);
            }, (seq, error) => errors.WriteLine($"frame {seq}: {error}"), plan);
            errors.WriteLine($"{frames} frames, {parseErrors} parse errors, {n} events");
            return 0;
        }
        catch (Exception ex) when (ex is FormatException or IOException)
        {
            errors.WriteLine($"error: {input.Name}: {ex.Message}");
            return 2;
        }
    }

    /// <summary>Replays a capture through the stream engine and the live-events builder (as ingest does, without a database).</summary>
    /// <returns>Frames read and how many did not parse.</returns>
    /// <exception cref="FormatException">A file is not a capture of <paramref name="protocol"/>.</exception>
    /// <exception cref="IOException">A file cannot be read.</exception>
    public static (long Frames, int ParseErrors) Events(
        string protocol, IEnumerable<FileInfo> inputs, TimeZoneInfo zone, string pbx, DateTimeOffset clockStart, string enterprise,
        Action<Events.BuiltEvent> emit, Action<long, string?>? parseError = null, NumberPlan? plan = null)
    {
        var module = PbxProtocols.Get(protocol);
        var engine = module.Create(pbx, (plan ?? NumberPlan.None).ApplyTo(new CorrelatorOptions { TimeZone = zone }));
        var changes = new CallChangeList();
        var live = new Dictionary<string, Events.LiveCall>(StringComparer.Ordinal);
        var gone = new HashSet<string>(StringComparer.Ordinal);
        var owner = new Storage.EventEnterprise(0, enterprise, "PL");
        void Flush()
        {
            foreach (var e in Functions.Events.CallEventBuilder.Apply(changes.Changes, owner, live, gone, _ => null, c => CallDto.From(new Storage.StoredCall(0, c with { StartedAt = c.StartedAt.ToUniversalTime(), AnsweredAt = c.AnsweredAt?.ToUniversalTime(), EndedAt = c.EndedAt.ToUniversalTime() }))))
            {
                emit(e);
            }

            changes.Clear();
            gone.Clear();
        }

        long seq = 0;
        var parseErrors = 0;
        foreach (var frame in Frames(module, inputs, zone, pbx, clockStart))
        {
            seq = frame.Seq;
            Count(engine.Process(frame, changes), frame.Seq, ref parseErrors, parseError);
            Flush();
        }

        engine.Flush(changes);
        Flush();
        return (seq, parseErrors);
    }

    /// <summary>Correlates the frames of <paramref name="inputs"/> (read in order, as one stream: seq = frame number
    /// from 1) into calls with the captures' own times, ordered by start time.</summary>
    /// <param name="protocol">A registered protocol name (<see cref="PbxProtocols.Names"/>).</param>
    /// <param name="inputs">Capture files (see <see cref="CaptureFile"/>).</param>
    /// <param name="zone">The PBX's time zone (times without offset; SMDR local times).</param>
    /// <param name="pbx">PBX id stamped on the calls.</param>
    /// <param name="clockStart">Receive time of frames without one (one millisecond apart).</param>
    /// <param name="parseError">Called with the frame number and error of each frame that does not parse.</param>
    /// <param name="plan">The PBX's number plan (AMI); null = inferred from the stream.</param>
    /// <exception cref="FormatException">A file is not a capture of <paramref name="protocol"/>.</exception>
    /// <exception cref="IOException">A file cannot be read.</exception>
    public static CaptureCalls Correlate(string protocol, IEnumerable<FileInfo> inputs, TimeZoneInfo zone, string pbx, DateTimeOffset clockStart, Action<long, string?>? parseError = null, NumberPlan? plan = null)
    {
        var module = PbxProtocols.Get(protocol);
        var correlator = module.Create(pbx, (plan ?? NumberPlan.None).ApplyTo(new CorrelatorOptions { TimeZone = zone }));
        var calls = new List<Call>();
        long seq = 0;
        var parseErrors = 0;
        foreach (var frame in Frames(module, inputs, zone, pbx, clockStart))
        {
            seq = frame.Seq;
            Count(correlator.Process(frame, calls), frame.Seq, ref parseErrors, parseError);
        }

        correlator.Flush(calls);
        return new CaptureCalls([.. calls.OrderBy(c => c.StartedAt).ThenBy(c => c.CallKey, StringComparer.Ordinal)], seq, parseErrors);
    }

    // The frames of the capture files as one stream of session CaptureSession: seq = frame number from 1; frames
    // without a time get clockStart plus seq milliseconds.
    private static IEnumerable<PbxFrame> Frames(IPbxProtocol module, IEnumerable<FileInfo> inputs, TimeZoneInfo zone, string pbx, DateTimeOffset clockStart)
    {
        long seq = 0;
        foreach (var input in inputs)
        {
            foreach (var frame in CaptureFile.Read(input.FullName, module.Framing == CaptureFraming.Blocks, zone))
            {
                seq++;
                yield return new PbxFrame(pbx, CaptureSession, seq, frame.ReceivedAt ?? clockStart.AddMilliseconds(seq), frame.Frame);
            }
        }
    }

    private static void Count(FrameOutcome outcome, long seq, ref int parseErrors, Action<long, string?>? parseError)
    {
        if (outcome.Disposition == FrameDisposition.ParseError)
        {
            parseErrors++;
            parseError?.Invoke(seq, outcome.Error);
        }
    }
}

/// <summary>What <see cref="CorrelateCommand.Correlate"/> made of a capture.</summary>
/// <param name="Calls">The calls, by start time.</param>
/// <param name="Frames">Frames read.</param>
/// <param name="ParseErrors">Of which did not parse.</param>
public sealed record CaptureCalls(IReadOnlyList<Call> Calls, long Frames, int ParseErrors);
