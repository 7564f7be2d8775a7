using BenchmarkDotNet.Running;
using CloudTelephony.Benchmarks;

// `core [BenchmarkDotNet args]` runs the core benchmarks; `ingest [frames] [batch] [pbxes]` the end-to-end ingest run;
// `routing [requests] [rate]` the Smart Redirect endpoint under load; `pipeline [repeat] [batch]` PBX socket → relay program →
// functions → PostgreSQL with 0 to 5,000 calls in progress.
switch (args.FirstOrDefault())
{
    case "ingest":
        return await IngestBench.RunAsync(
            args.Length > 1 ? int.Parse(args[1]) : 1_000_000,
            args.Length > 2 ? int.Parse(args[2]) : 1000,
            args.Length > 3 ? int.Parse(args[3]) : 2);
    case "routing":
        return await RoutingBench.RunAsync(
            args.Length > 1 ? int.Parse(args[1]) : 5000,
            args.Length > 2 ? int.Parse(args[2]) : 500);
    case "pipeline":
        return await PipelineBench.RunAsync(
            args.Length > 1 ? int.Parse(args[1]) : 20,
            args.Length > 2 ? int.Parse(args[2]) : 500,
            Path.Combine(CloudTelephony.Tests.TestPaths.RepoRoot, "relay", "CloudTelephony.Relay", "bin", "Release", "net10.0", "relay.dll"));
    case "events":
        return await EventsBench.RunAsync(
            args.Length > 1 ? int.Parse(args[1]) : 20,
            args.Length > 2 ? int.Parse(args[2]) : 500,
            args.Length > 3 ? int.Parse(args[3]) : 2,
            args.Length <= 4 || args[4] != "off",
            args.Length > 5 ? int.Parse(args[5]) : 0,
            args.Length <= 6 || args[6] != "cold");
    case "core":
        BenchmarkSwitcher.FromAssembly(typeof(CoreBenchmarks).Assembly).Run(args[1..]);
        return 0;
    default:
        Console.Error.WriteLine("usage: CloudTelephony.Benchmarks core [BenchmarkDotNet options] | ingest [frames=1000000] [batch=1000] [pbxes=2] | routing [requests=5000] [rate=500] | pipeline [repeat=20] [relay batch=500] | events [repeat=20] [batch=500] [pbxes=2] [on|off] [rate=0 (frames/s, 0 = full speed)] [warm|cold]");
        return 2;
}
