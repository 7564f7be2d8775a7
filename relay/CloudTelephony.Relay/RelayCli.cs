using System.CommandLine;
using System.Globalization;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Relay;

/// <summary>The <c>relay</c> command line: <c>relay run</c> (default) and <c>relay simulate</c>.</summary>
public static class RelayCli
{
    /// <summary>Exit code for a configuration or usage error.</summary>
    public const int ConfigError = 2;

    /// <summary>Parses <paramref name="args"/> and runs the chosen command; returns the process exit code.</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <param name="stderr">Where errors go (default <see cref="Console.Error"/>).</param>
    /// <param name="cancellationToken">Stops the command (in addition to Ctrl+C / SIGTERM).</param>
    /// <param name="stdout">Where help goes (default <see cref="Console.Out"/>).</param>
    public static async Task<int> InvokeAsync(string[] args, TextWriter? stderr = null, CancellationToken cancellationToken = default, TextWriter? stdout = null)
    {
        stderr ??= Console.Error;
        var root = BuildCommand(stderr);
        var parse = root.Parse(args);
        var invocation = new InvocationConfiguration { Error = stderr, Output = stdout ?? Console.Out };
        return await parse.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
    }

    private static RootCommand BuildCommand(TextWriter stderr)
    {
        var run = new Command("run", "Run the relay service (the default): connect to the configured PBXes and forward their frames. "
            + "Configuration: appsettings.json beside the program, environment variables (Relay__Pbxes__0__Host=...), "
            + "and --Relay:Key=value overrides.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        run.SetAction((parse, ct) => RunServiceAsync([.. parse.UnmatchedTokens], stderr, ct));

        var protocol = new Option<string>("--protocol")
        {
            Description = "PBX protocol to simulate: " + string.Join(", ", PbxConnectorFactories.All.Select(f => $"{f.Protocol} ({f.Description})")),
            Required = true,
        };
        protocol.AcceptOnlyFromAmong([.. PbxConnectorFactories.All.Select(f => f.Protocol)]);
        var capture = new Option<FileInfo[]>("--capture")
        {
            Description = "Capture(s) to replay (tsv, jsonl, AMI blocks or SMDR lines; see samples/); several files are replayed one after the other",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        capture.AcceptExistingOnly();
        var port = new Option<int?>("--port")
        {
            Description = "TCP port to listen on (by default "
                + string.Join(", ", PbxConnectorFactories.All.Where(f => !f.PbxConnects).Select(f => $"{f.Protocol} {f.DefaultPort}")) + "; 0 = any free port)",
        };
        port.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is < 0 or > 65535)
            {
                r.AddError("--port must be 0-65535");
            }
        });
        var pin = new Option<string>("--pin") { Description = "ctip: LOGA key the simulated PBX accepts", DefaultValueFactory = _ => "1234" };
        var username = new Option<string>("--username") { Description = "ami: Login user name accepted", DefaultValueFactory = _ => "admin" };
        var secret = new Option<string>("--secret") { Description = "ami: Login secret accepted", DefaultValueFactory = _ => "secret" };
        var target = new Option<string>("--target") { Description = "smdr: the relay's SMDR listener, host:port (default 127.0.0.1:9000)", DefaultValueFactory = _ => "127.0.0.1:9000" };
        target.Validators.Add(r =>
        {
            if (!TryParseTarget(r.GetValueOrDefault<string>() ?? "", out _, out _))
            {
                r.AddError("--target must be host:port");
            }
        });
        var speed = new Option<double>("--speed")
        {
            Description = "Replay speed: original gaps divided by this; 0 or 'max' = as fast as possible",
            DefaultValueFactory = _ => 60,
            CustomParser = r =>
            {
                var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "60";
                if (text.Equals("max", StringComparison.OrdinalIgnoreCase))
                {
                    return 0;
                }

                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0)
                {
                    return v;
                }

                r.AddError($"--speed '{text}' is not a non-negative number or 'max'");
                return 0;
            },
        };
        var maxGap = new Option<TimeSpan>("--max-gap")
        {
            Description = "Longest pause between two frames after scaling (e.g. 2s, 500ms, 00:00:05); longer gaps, such as nights, are cut to this",
            DefaultValueFactory = _ => TimeSpan.FromSeconds(2),
            CustomParser = r =>
            {
                var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "2s";
                if (TryParseDuration(text, out var v))
                {
                    return v;
                }

                r.AddError($"--max-gap '{text}' is not a duration (2s, 500ms, 1m, 00:00:02)");
                return TimeSpan.Zero;
            },
        };
        var loop = new Option<bool>("--loop") { Description = "Replay the capture again when it ends" };
        var announce = new Option<bool>("--announce-capture-times")
        {
            Description = "ctip, demo only: before each frame announce its capture time (#capture-time ...), which a relay with Relay:Demo:HonourCaptureTimes=true uses as the receive time, so replayed calls keep their real ring and talk times",
        };
        var simulate = new Command(
            "simulate",
            "Act as a PBX and replay a capture with the real handshake: ctip (aWHO, one aLOGA, t link tests) and ami (banner, Login, Events, Ping) "
            + "listen on a port; smdr connects to the relay's listener (--target) like IP Office and pushes the records")
        {
            protocol, capture, port, pin, username, secret, target, speed, maxGap, loop, announce,
        };
        simulate.SetAction(async (parse, ct) =>
        {
            using var loggers = LoggerFactory.Create(b => ConfigureLogging(b));
            var factory = PbxConnectorFactories.Find(parse.GetRequiredValue(protocol))!;
            var frames = parse.GetRequiredValue(capture).SelectMany(f => CaptureFile.Read(f.FullName, factory.Protocol)).ToList();
            TryParseTarget(parse.GetValue(target) ?? "", out var targetHost, out var targetPort);
            var request = new SimulatorRequest(
                frames,
                parse.GetValue(port),
                parse.GetValue(pin) ?? "1234",
                parse.GetValue(username) ?? "admin",
                parse.GetValue(secret) ?? "secret",
                targetHost,
                targetPort,
                parse.GetValue(speed),
                parse.GetValue(maxGap),
                parse.GetValue(loop),
                parse.GetValue(announce));
            var simulator = await factory.StartSimulatorAsync(request, loggers, ct).ConfigureAwait(false);
            await using (simulator.ConfigureAwait(false))
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }

            return 0;
        });

        var root = new RootCommand("CloudTelephony relay: PBX connectors (" + string.Join(", ", PbxConnectorFactories.All.Select(f => f.Description)) + "), durable outbox and forwarder; plus a PBX simulator per protocol.")
        {
            run,
            simulate,
        };
        root.TreatUnmatchedTokensAsErrors = false;
        root.SetAction(async (parse, ct) =>
        {
            // `relay --Relay:Key=value` runs the service; `relay simulte` is a typo, not configuration
            if (parse.UnmatchedTokens.Count > 0 && parse.UnmatchedTokens[0] is { Length: > 0 } first && first[0] is not ('-' or '/'))
            {
                await stderr.WriteLineAsync($"relay: unknown command '{first}' (commands: run, simulate; see relay --help)").ConfigureAwait(false);
                return ConfigError;
            }

            return await RunServiceAsync([.. parse.UnmatchedTokens], stderr, ct).ConfigureAwait(false);
        });
        return root;
    }

    /// <summary>Parses <c>2s</c>, <c>500ms</c>, <c>1m</c>, a plain number of seconds, or a TimeSpan (<c>00:00:02</c>).</summary>
    public static bool TryParseDuration(string text, out TimeSpan value)
    {
        text = text.Trim();
        (string suffix, double factor)[] units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)];
        foreach (var (suffix, factor) in units)
        {
            if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(text[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= 0)
            {
                value = TimeSpan.FromSeconds(n * factor);
                return true;
            }
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
        {
            value = TimeSpan.FromSeconds(seconds);
            return true;
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value) && value >= TimeSpan.Zero;
    }

    /// <summary>
    /// Builds and runs the relay host. Configuration problems are reported as ONE line on <paramref name="stderr"/>
    /// and exit code <see cref="ConfigError"/>; <c>--contentRoot DIR</c> chooses where appsettings.json is read from
    /// (default: the program's folder).
    /// </summary>
    private static async Task<int> RunServiceAsync(string[] configArgs, TextWriter stderr, CancellationToken ct)
    {
        HostApplicationBuilder builder;
        RelayOptions options;
        try
        {
            var contentRoot = new ConfigurationBuilder().AddCommandLine(configArgs).Build()[HostDefaults.ContentRootKey];
            builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
            {
                Args = configArgs,
                ContentRootPath = string.IsNullOrEmpty(contentRoot) ? AppContext.BaseDirectory : Path.GetFullPath(contentRoot),
            });
            // every key under Relay: is checked before binding: unknown keys (with a hint) and values that do not convert
            var (problems, _) = RelayConfiguration.Check(builder.Configuration);
            if (problems.Count > 0)
            {
                await stderr.WriteLineAsync($"relay: bad configuration: {OneLine(string.Join("; ", problems))}").ConfigureAwait(false);
                return ConfigError;
            }

            options = RelayConfiguration.Bind(builder.Configuration);
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or IOException or ArgumentException)
        {
            // the outer message names the key and the value (the inner one only says "abc is not a valid value for Int32")
            await stderr.WriteLineAsync($"relay: bad configuration: {OneLine(ex.Message)}{(ex.InnerException is { } inner ? $" ({OneLine(inner.Message)})" : "")}").ConfigureAwait(false);
            return ConfigError;
        }

        var errors = RelayOptionsValidator.Check(options);
        if (errors.Count > 0)
        {
            await stderr.WriteLineAsync($"relay: bad configuration: {OneLine(string.Join("; ", errors))}").ConfigureAwait(false);
            return ConfigError;
        }

        ConfigureLogging(builder.Logging);
        // no-ops unless started by systemd (Type=notify: READY=1 after start, journald log format) or the Windows SCM
        builder.Services.AddSystemd();
        builder.Services.AddWindowsService(o => o.ServiceName = "CloudTelephonyRelay");
        builder.Services.AddRelay(builder.Configuration);
        using var host = builder.Build();
        try
        {
            await host.RunAsync(ct).ConfigureAwait(false);
        }
        catch (OptionsValidationException ex)
        {
            await stderr.WriteLineAsync($"relay: bad configuration: {OneLine(string.Join("; ", ex.Failures))}").ConfigureAwait(false);
            return ConfigError;
        }

        return 0;
    }

    /// <summary>Parses <c>host:port</c> (IPv6 as <c>[::1]:9000</c>).</summary>
    public static bool TryParseTarget(string text, out string host, out int port)
    {
        host = "";
        port = 0;
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            return false;
        }

        host = text[..colon].Trim('[', ']');
        return host.Length > 0;
    }

    /// <summary>
    /// Console logging: one line per event stamped with the UTC date and time (<c>2025-09-02T13:44:19.123Z</c>), the
    /// level, the category and the EventId (<see cref="RelayEvents"/>); the standard switch
    /// <c>Logging__Console__FormatterName=json</c> (or <c>systemd</c>) chooses another formatter, with the same UTC time
    /// stamps. Noisy categories are turned down.
    /// </summary>
    private static void ConfigureLogging(ILoggingBuilder logging)
    {
        // AddConsole keeps the formatter chosen by Logging:Console:FormatterName (AddSimpleConsole would force "simple")
        logging.AddConsole();
        // without a formatter name the console provider copies its own obsolete (empty) time stamp settings over ours
        logging.Services.Configure<ConsoleLoggerOptions>(o => o.FormatterName ??= ConsoleFormatterNames.Simple);
        logging.Services.Configure<SimpleConsoleFormatterOptions>(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = UtcTimestampFormat + " ";
            o.UseUtcTimestamp = true;
            o.ColorBehavior = LoggerColorBehavior.Default;
        });
        logging.Services.Configure<JsonConsoleFormatterOptions>(o =>
        {
            o.TimestampFormat = UtcTimestampFormat;
            o.UseUtcTimestamp = true;
        });
        logging.Services.Configure<ConsoleFormatterOptions>(o =>
        {
            o.TimestampFormat = UtcTimestampFormat + " ";
            o.UseUtcTimestamp = true;
        });
        // the HTTP client logs every request at Information; the forwarder reports progress itself
        logging.AddFilter("System.Net.Http.HttpClient", LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        // Polly's telemetry logs every HTTP retry with a stack trace; the forwarder logs one line per failed batch
        logging.AddFilter("Polly", LogLevel.None);
    }

    /// <summary>The time stamp of every log line: UTC date and time with milliseconds, ISO 8601.</summary>
    public const string UtcTimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    private static string OneLine(string s) => s.ReplaceLineEndings(" ");
}
