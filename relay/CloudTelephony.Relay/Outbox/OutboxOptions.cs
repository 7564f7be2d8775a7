namespace CloudTelephony.Relay.Outbox;

/// <summary>The durable outbox between connectors and forwarder (<c>Relay:Outbox</c>).</summary>
public sealed class OutboxOptions
{
    /// <summary>Folder used for the default outbox path when it exists (systemd <c>StateDirectory=cloudtelephony-relay</c>).</summary>
    public const string ServiceStateDirectory = "/var/lib/cloudtelephony-relay";

    /// <summary>
    /// SQLite file of the outbox (<c>Relay:Outbox:Path</c>). Empty (default): <c>/var/lib/cloudtelephony-relay/outbox.db</c>
    /// when that folder exists, else <c>outbox.db</c> beside the program. A relative path is resolved against the program's folder.
    /// </summary>
    public string? Path { get; set; }

    /// <summary>
    /// Most frames kept (<c>Relay:Outbox:MaxFrames</c>, default 1 000 000). At the cap the relay raises an alarm (logged
    /// every minute, flagged in the status and heartbeat) and connectors wait — frames are never dropped.
    /// </summary>
    public int MaxFrames { get; set; } = 1_000_000;

    /// <summary>
    /// SQLite <c>synchronous</c> level (<c>Relay:Outbox:Synchronous</c>): <c>Full</c> (default) fsyncs the WAL on every
    /// commit so a committed frame survives a power cut, not only a crash; <c>Normal</c> survives kill -9 but may lose the
    /// last commits on power loss. Group commit makes one fsync cover every frame waiting at that moment.
    /// </summary>
    public string Synchronous { get; set; } = "Full";

    /// <summary>
    /// Most frames one PBX may hold in the outbox (<c>Relay:Outbox:MaxFramesPerPbx</c>). 0 (default) = an equal share:
    /// <see cref="MaxFrames"/> divided by the number of configured PBXes. A PBX at its share waits (backpressure onto its
    /// own socket, alarm logged) while the others go on, so one PBX's flood cannot fill the outbox for everyone.
    /// </summary>
    public int MaxFramesPerPbx { get; set; }

    /// <summary>Most frames written in one transaction (group commit), default 2000.</summary>
    public int MaxGroupCommit { get; set; } = 2000;

    /// <summary>The outbox file this configuration resolves to.</summary>
    public string ResolvePath()
    {
        if (!string.IsNullOrWhiteSpace(Path))
        {
            return System.IO.Path.GetFullPath(Path, AppContext.BaseDirectory);
        }

        return Directory.Exists(ServiceStateDirectory)
            ? System.IO.Path.Combine(ServiceStateDirectory, "outbox.db")
            : System.IO.Path.Combine(AppContext.BaseDirectory, "outbox.db");
    }
}
