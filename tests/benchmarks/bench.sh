#!/usr/bin/env bash
# ./ct bench [core|ingest|routing|pipeline|events|relay|relay-forwarder] — benchmarks, figures printed (never asserted).
#   core:   BenchmarkDotNet, parse + correlate per protocol on the real captures (per-frame Mean; frames/s = 1 s / Mean)
#   ingest: end to end, HTTP → functions → PostgreSQL, the CTIP capture repeated to 1,000,000 frames
#   routing: Smart Redirect getcustomerdata over loopback at 500 req/s, cold and warm, then the maximum rate, then open-loop
#           at twice the maximum (saturating); late answers (> budget + 20 ms) counted, server and client side
#   relay:  the relay program itself (Native AOT as ./ct publish builds it, and the JIT build): SMDR PBXes push real
#           records at 10,000/s and at full speed → relay → SQLite outbox → Service Bus forwarder → AMQP test broker;
#           args: [seconds=15] [pbxes=4]; frames/s, receive→broker p50/p99, the relay's RSS idle / under load
#   relay-soak: the soak test of the relay program (a flooding SMDR PBX, 20 MB without line ends again and again, and a
#           garbage CTIP PBX next to a well-behaved one) for [seconds=600]; prints RSS max per quarter and frames delivered
#   pipeline: a CTIP PBX stand-in writes the real capture [repeat=20] times as fast as TCP takes it → the relay program
#           (outbox, HTTP forwarder, [batch=500] frames per POST) → the functions app → PostgreSQL, with 0, 10, 100, 1,000 and 5,000 calls in progress:
#           frames/s first frame sent → last frame committed, seconds until the calls are stored, batch p50/p99
#   events: live call events under ingest load: [pbxes=2] senders POST the capture x[repeat=40] in [batch=500]s, paced to
#           [rate] frames/s in all ([on|off] = live events on or off); a webhook receiver on loopback; after a warm-up
#           until the JIT settled ([warm|cold]: cold = none), frame committed -> webhook received p50/p99, events/s the
#           dispatcher delivered. Without a rate: at 5,000,
#           10,000 frames/s (the pipeline bench's rate) and at full speed
#   relay-forwarder: outbox + forwarder in the bench process (no sockets before the outbox);
#           args: [seconds=15] [pbxes=4] [synchronous=Full]; frames/s, append→accept p50/p99
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
what=${1:-all}
project="$root/tests/benchmarks/CloudTelephony.Benchmarks"
dotnet build "$project" -c Release -nologo -v q -clp:ErrorsOnly
bin="$project/bin/Release/net10.0/CloudTelephony.Benchmarks.dll"
if [ "$what" = all ] || [ "$what" = core ]; then
  (cd "$root/.ct" 2>/dev/null || mkdir -p "$root/.ct" && cd "$root/.ct"; dotnet "$bin" core --filter '*' --job short --inProcess --exporters markdown)
fi
if [ "$what" = all ] || [ "$what" = ingest ]; then
  export CT_POSTGRES=${CT_POSTGRES:-$("$root/infra/local/postgres.sh" start | tail -n 1)}
  dotnet "$bin" ingest "${@:2}"
fi
if [ "$what" = all ] || [ "$what" = routing ]; then
  export CT_POSTGRES=${CT_POSTGRES:-$("$root/infra/local/postgres.sh" start | tail -n 1)}
  dotnet "$bin" routing "${@:2}"
fi
if [ "$what" = events ]; then
  export CT_POSTGRES=${CT_POSTGRES:-$("$root/infra/local/postgres.sh" start | tail -n 1)}
  if [ $# -ge 6 ]; then
    dotnet "$bin" events "${@:2}"
  else
    for rate in 5000 10000 0; do dotnet "$bin" events "${2:-40}" "${3:-500}" "${4:-2}" "${5:-on}" "$rate"; done
  fi
fi
if [ "$what" = pipeline ]; then
  export CT_POSTGRES=${CT_POSTGRES:-$("$root/infra/local/postgres.sh" start | tail -n 1)}
  dotnet build "$root/relay/CloudTelephony.Relay" -c Release -nologo -v q -clp:ErrorsOnly
  dotnet "$bin" pipeline "${@:2}"
fi
if [ "$what" = relay ] || [ "$what" = relay-forwarder ]; then
  relay_project="$root/tests/benchmarks/CloudTelephony.Relay.Benchmarks"
  dotnet build "$relay_project" -c Release -nologo -v q -clp:ErrorsOnly
  relay_bench="$relay_project/bin/Release/net10.0/CloudTelephony.Relay.Benchmarks.dll"
fi
if [ "$what" = relay-soak ]; then
  dotnet build "$root/tests/CloudTelephony.Relay.Tests" -c Release -nologo -v q -clp:ErrorsOnly
  CT_SOAK_SECONDS=${2:-600} dotnet test "$root/tests/CloudTelephony.Relay.Tests" -c Release --no-build -nologo \
    --filter "FullyQualifiedName~FuzzAndSoakTests.Soak" --logger "console;verbosity=detailed" | grep -E "soak [0-9]+ s:|Passed|Failed"
  exit "${PIPESTATUS[0]}"
fi
if [ "$what" = relay-forwarder ]; then
  dotnet "$relay_bench" "${@:2}"
fi
if [ "$what" = relay ]; then
  seconds=${2:-15} pbxes=${3:-4}
  aot="$root/.ct/bench/relay-aot"
  # the Native AOT build links with clang (as ./ct publish)
  compgen -c clang | grep -qE '^clang(-[0-9]+)?$' || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang zlib1g-dev >&2; }
  echo "publishing the relay as Native AOT (linux-x64) into $aot"
  dotnet publish "$root/relay/CloudTelephony.Relay/CloudTelephony.Relay.csproj" -c Release -r linux-x64 -p:PublishAot=true \
    -p:DebugType=none -p:GenerateDocumentationFile=false -o "$aot" -nologo -v q -clp:ErrorsOnly
  jit="$root/relay/CloudTelephony.Relay/bin/Release/net10.0/relay.dll"
  dotnet build "$root/relay/CloudTelephony.Relay" -c Release -nologo -v q -clp:ErrorsOnly
  echo "relay program → SQLite outbox (synchronous=FULL) → Service Bus forwarder → AMQP test broker; $pbxes SMDR PBXes, $(nproc) cores"
  dotnet "$relay_bench" process "Native AOT, paced" "$seconds" 10000 "$pbxes" "$aot/relay"
  dotnet "$relay_bench" process "Native AOT, full speed" "$seconds" 0 "$pbxes" "$aot/relay"
  dotnet "$relay_bench" process "JIT (dotnet relay.dll), paced" "$seconds" 10000 "$pbxes" dotnet "$jit"
fi
