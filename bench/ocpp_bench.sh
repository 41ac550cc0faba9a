#!/usr/bin/env bash
# OCPP charge points at scale against one station-gateway (issue #10). Starts on loopback a
# development broker, station-scheduler (a station of N fast piles, 30 kW, real-time
# clock) and station-gateway with one charger per pile, then bench/ocpp_load.js: N charge
# points (ocpp-rpc, strict mode) in one Node process that boot, send a Heartbeat and
# MeterValues every 10 s for STEADY seconds (the gateway's CPU and memory are measured over
# that window), then FAULTS times request a car, fault its charger once the transaction
# runs and time until another charger gets RemoteStartTransaction, then drop every
# connection at once and reconnect all (the reconnect storm).
#
#   bench/ocpp_bench.sh [N] [STEADY] [FAULTS]      defaults: 1000 60 50
#
# Environment: BUILD (binaries, default build/release), OUT (default build/bench/out/ocpp),
# GATEWAY_ARGS (more options for station-gateway, e.g. "--connect-window 0").
# With BASE_BUILD (binaries of the build to compare with, e.g. a Release build of the
# commit this branch started from) both run, base then new, ROUNDS times each (default 1),
# each against a fresh broker, scheduler and gateway, and a table sets them side by side.
# The load average when each run starts is printed with it (the machine is shared).
# Needs node and npm (the load installs ocpp-rpc as tests/gateway/cp-sim pins it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-1000}
steady=${2:-60}
faults=${3:-50}
build=${BUILD:-$root/build/release}
base_build=${BASE_BUILD:-}
rounds=${ROUNDS:-1}
out_root=${OUT:-$root/build/bench/out/ocpp}
need=$((4 * n + 1024))  # the gateway holds a WebSocket and an MQTT connection per pile
if [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
rm -rf "$out_root" && mkdir -p "$out_root"
chmod 711 "$out_root"
"$root/tests/gateway/cp-sim-install.sh" "$root/tests/gateway/cp-sim" "$root/build/bench-ocpp" >/dev/null
pids=()
out=
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait "${pids[@]}" 2>/dev/null || true
    [ -n "$out" ] && [ -f "$out/broker/broker.pid" ] && kill "$(cat "$out/broker/broker.pid")" 2>/dev/null || true
    pids=()
}
trap cleanup EXIT
: >"$out_root/results.tsv"

run_one() {  # NAME BUILD
    local name=$1 build=$2
    out=$out_root/$name
    mkdir -p "$out"
    local load
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "== $name ($build), load average $load" >&2
    "$root/broker/start-dev.sh" "$out/broker" 0 >/dev/null
    local port
    port=$(cat "$out/broker/broker.port")
    python3 - "$n" "$out" <<'PY'
import json, secrets, sys
n, out = int(sys.argv[1]), sys.argv[2]
piles = [{"id": f"P{i:04d}", "mode": "F", "power": 30} for i in range(1, n + 1)]
json.dump({"name": "ocpp-bench", "waiting_area": 10, "queue_length": 2, "piles": piles},
          open(f"{out}/profile.json", "w"))
chargers = [{"identity": f"CP{i:04d}", "password": secrets.token_urlsafe(15),
             "connectors": [{"connector": 1, "pile": f"P{i:04d}", "mode": "F", "power_kw": 30}]}
            for i in range(1, n + 1)]
json.dump({"chargers": chargers}, open(f"{out}/chargers.json", "w"))
PY
    "$build/scheduler/service/station-scheduler" --broker "tcp://127.0.0.1:$port" \
        --profile "$out/profile.json" --sim-start "$(date +%F) 06:00:00" --sim-speed 1 \
        2>"$out/scheduler.log" &
    pids+=($!)
    "$build/gateway/station-gateway" --chargers "$out/chargers.json" --broker "tcp://127.0.0.1:$port" \
        --port 0 --max-connections $((n + 64)) ${GATEWAY_ARGS:-} 2>"$out/gateway.log" &
    gateway_pid=$!
    pids+=($gateway_pid)
    for _ in $(seq 300); do grep -q "listening on port" "$out/gateway.log" && break; sleep 0.1; done
    local ws_port
    ws_port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$out/gateway.log" | head -n 1)
    [ -n "$ws_port" ] || { cat "$out/gateway.log"; echo "station-gateway did not start" >&2; exit 1; }

    ticks=$(getconf CLK_TCK)
    NODE_PATH=$root/build/bench-ocpp/node_modules node "$root/bench/ocpp_load.js" \
        --url "ws://127.0.0.1:$ws_port/ocpp" --chargers "$out/chargers.json" --broker-port "$port" \
        --steady-s "$steady" --faults "$faults" 2>"$out/load.err" | tee "$out/load.jsonl" |
        while read -r line; do
            case "$line" in
                *'"phase":"steady_begin"'*)
                    echo "$(cpu_ticks) $(date +%s.%N)" >"$out/cpu.begin" ;;
                *'"phase":"steady"'*)
                    echo "$(cpu_ticks) $(date +%s.%N) $(rss_kib)" >"$out/cpu.end" ;;
            esac
        done
    [ -s "$out/cpu.end" ] || { cat "$out/load.err"; echo "the load did not finish its steady phase" >&2; exit 1; }
    local c0 t0 c1 t1 rss hwm threads
    read -r c0 t0 <"$out/cpu.begin"
    read -r c1 t1 rss <"$out/cpu.end"
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$gateway_pid/status" 2>/dev/null || echo 0)
    threads=$(awk '/^Threads/ {print $2}' "/proc/$gateway_pid/status" 2>/dev/null || echo "?")
    local alive=yes
    kill -0 "$gateway_pid" 2>/dev/null || alive="no (see $out/gateway.log)"
    python3 - "$out/load.jsonl" "$c0" "$c1" "$t0" "$t1" "$ticks" "$rss" "$hwm" "$threads" \
        "$name" "$load" "$alive" "$out_root/results.tsv" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
phase = {l["phase"]: l for l in lines}
c0, c1, t0, t1, tck = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
rss, hwm, threads = int(sys.argv[7]), int(sys.argv[8]), sys.argv[9]
name, load, alive, tsv = sys.argv[10], sys.argv[11], sys.argv[12], sys.argv[13]
cpu = 100.0 * (c1 - c0) / tck / (t1 - t0)
c = phase.get("connected", {})
print(f"chargers connected and Available: {c.get('chargers')} in {c.get('seconds')} s")
print(f"steady ({phase.get('steady', {}).get('seconds')} s, heartbeat + meter values every 10 s): "
      f"gateway CPU {cpu:.1f} % of one core, RSS {rss / 1024:.1f} MiB (peak {hwm / 1024:.1f} MiB), {threads} threads")
f = phase.get("fault")
if f:
    print(f"fault -> RemoteStartTransaction on another charger: {f['measured']} of {f['runs']} measured, "
          f"p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, max {f['max_ms']:.1f} ms (failures {f['failures']})")
s = phase.get("storm")
if s:
    print(f"reconnect storm: all {s['chargers']} booted and Available again in {s['seconds']} s")
print(f"gateway alive at the end: {alive}")
row = [name, load, c.get("seconds"), f"{cpu:.1f}", f"{rss / 1024:.1f}", f"{hwm / 1024:.1f}", threads,
       f"{f['p50_ms']:.1f}" if f and f["p50_ms"] is not None else "-",
       f"{f['p99_ms']:.1f}" if f and f["p99_ms"] is not None else "-",
       f"{f['measured']}/{f['runs']}" if f else "-", s["seconds"] if s else "-", alive]
open(tsv, "a").write("\t".join(str(x) for x in row) + "\n")
PY
    cleanup
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$gateway_pid/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$gateway_pid/status"; }

for round in $(seq "$rounds"); do
    if [ -n "$base_build" ]; then
        run_one "base-$round" "$base_build"
    fi
    run_one "new-$round" "$build"
done
if [ -n "$base_build" ]; then
    echo
    echo "$n chargers, ${steady} s steady, $faults faults; base $base_build, new $build"
    echo
    echo "| run | load avg (1/5/15 min) | connect s | CPU % of a core | RSS MiB | peak MiB | threads | fault→start p50 ms | p99 ms | measured | storm s | alive |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    awk -F'\t' '{printf "| %s |", $1; for (i = 2; i <= NF; ++i) printf " %s |", $i; printf "\n"}' "$out_root/results.tsv"
fi
