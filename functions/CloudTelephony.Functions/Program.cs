using CloudTelephony.Functions.Commands;
using CloudTelephony.Functions.Hosting;

// Entry point of the functions app (`handler`): the custom handler / standalone HTTP server and the operator commands.
try
{
    // Command-line mistakes are one line and exit 2 (Cli); the handlers below print one readable line instead of a stack trace.
    return await Cli.InvokeAsync(HandlerCommand.Create(), args.Length == 0 ? ["serve"] : args);
}
catch (Exception ex) when (Settings.StartupProblem(ex) is { } problem)
{
    // A bad setting, an unparsable connection string, a taken port: one line, exit 2 (systemd's RestartPreventExitStatus).
    Console.Error.WriteLine($"error: {problem}");
    return 2;
}
catch (Exception ex) when (ex is Npgsql.NpgsqlException or System.Net.Sockets.SocketException
                           || (ex is InvalidOperationException && ex.Message.StartsWith("migration", StringComparison.Ordinal)))
{
    Console.Error.WriteLine($"error: database: {ex.Message}");
    return 1;
}
