#!/usr/bin/env bash
# ./ct bench [core|ingest|routing] — benchmarks, figures printed (never asserted).
#   core:   BenchmarkDotNet, parse + correlate per protocol on the real captures (per-frame Mean; frames/s = 1 s / Mean)
#   ingest: end to end, HTTP → functions → PostgreSQL, the CTIP capture repeated to 1,000,000 frames
#   routing: Smart Redirect getcustomerdata over loopback at 500 req/s, cold and warm, then the maximum rate
#   relay:  appends → SQLite outbox → Service Bus forwarder → AMQP test broker (child process);
#           args: [seconds=15] [pbxes=4] [synchronous=Full]; frames/s, append→accept p50/p99, RSS
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
what=${1:-all}
project="$root/tests/benchmarks/CloudTelephony.Benchmarks"
dotnet build "$project" -c Release -nologo -v q -clp:ErrorsOnly
bin="$project/bin/Release/net10.0/CloudTelephony.Benchmarks.dll"
if [ "$what" = all ] || [ "$what" = core ]; then
  (cd "$root/.ct" 2>/dev/null || mkdir -p "$root/.ct" && cd "$root/.ct"; dotnet "$bin" core --filter '*' --job short --exporters markdown)
fi
if [ "$what" = all ] || [ "$what" = ingest ]; then
  export CT_POSTGRES=${CT_POSTGRES:-$("$root/infra/local/postgres.sh" start | tail -n 1)}
  dotnet "$bin" ingest "${@:2}"
fi
if [ "$what" = all ] || [ "$what" = routing ]; then
  export CT_POSTGRES=${CT_POSTGRES:-$("$root/infra/local/postgres.sh" start | tail -n 1)}
  dotnet "$bin" routing "${@:2}"
fi
if [ "$what" = relay ]; then
  relay_project="$root/tests/benchmarks/CloudTelephony.Relay.Benchmarks"
  dotnet build "$relay_project" -c Release -nologo -v q -clp:ErrorsOnly
  dotnet "$relay_project/bin/Release/net10.0/CloudTelephony.Relay.Benchmarks.dll" "${@:2}"
fi
