#!/usr/bin/env bash
# The REST API benchmark of issue #4: the running system (broker, scheduler, pile
# simulator, station-api) on loopback, loaded by wrk with 64 connections (2 threads):
#   1. GET /admin/index/manage        the station snapshot
#   2. GET /client/index/order        a user's current orders (from SQLite + read model)
#   3. POST + DELETE /client/index/order   order creation, as create-then-cancel pairs
# On a profile of 10 fast piles (3 places) with a waiting area of 200, so that every
# request is accepted. Prints wrk's summary (req/s, latency percentiles) for each.
#   bench/api_bench.sh [SECONDS] [CONNECTIONS]     defaults: 10 s, 64 connections
# API_BIN=... runs another station-api build (e.g. the sanitizer one, to look for races).
# BUILD=DIR uses the services of a build folder as they are (default: build/release, built
# first). API_DB=... gives the API another database (a PostgreSQL URI: bench/api_store_compare.sh);
# BENCH_OUT=DIR keeps the run's files elsewhere than bench/out/api.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-10}
conns=${2:-64}
threads=2
command -v wrk >/dev/null || "$root/deploy/install-deps.sh"
if [ -z "${BUILD:-}" ]; then
    cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$root/build/release" --target station-scheduler station-pile-sim station-api >/dev/null
fi
bin=${BUILD:-$root/build/release}
work=${BENCH_OUT:-$root/bench/out/api}
rm -rf "$work" && mkdir -p "$work"

python3 - "$work/profile.json" <<'PY'
import json, sys
piles = [{"id": f"F{i}", "mode": "F", "power": 30} for i in range(1, 11)] + [{"id": "T1", "mode": "T", "power": 10}]
json.dump({"name": "bench-api", "waiting_area": 200, "queue_length": 3, "piles": piles}, open(sys.argv[1], "w"))
PY
"$root/broker/start-dev.sh" "$work/broker" 0 >/dev/null
uri=tcp://127.0.0.1:$(cat "$work/broker/broker.port")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait "${pids[@]}" 2>/dev/null || true
    kill "$(cat "$work/broker/broker.pid")" 2>/dev/null || true
}
trap cleanup EXIT
"$bin/scheduler/service/station-scheduler" --broker "$uri" --profile "$work/profile.json" \
    --sim-start "2026-11-25 06:00:00" --sim-speed 0 --journal "$work/scheduler.journal" 2>"$work/scheduler.log" &
pids+=($!)
"$bin/pile-sim/station-pile-sim" --broker "$uri" --profile "$work/profile.json" 2>"$work/pile-sim.log" &
pids+=($!)
STATION_ADMIN_ACCOUNT=bench@station.local STATION_ADMIN_PASSWORD=bench-admin \
    "${API_BIN:-$bin/api/station-api}" --broker "$uri" --db "${API_DB:-$work/api.db}" --port 0 --port-file "$work/api.port" \
    --threads 128 2>"$work/api.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/api.port" ] && break; sleep 0.1; done
api=http://127.0.0.1:$(cat "$work/api.port")

# Tokens, a user with 2,000 cars, and 5 open orders to read back.
eval "$(python3 - "$api" <<'PY'
import http.client, json, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
def call(method, path, body=None, token=None):
    h = {"Content-Type": "application/json"}
    if token: h["token"] = token
    c.request(method, path, json.dumps(body) if body is not None else None, h)
    return json.loads(c.getresponse().read())
admin = call("POST", "/admin/login", {"account": "bench@station.local", "password": "bench-admin"})["data"]["token"]
for _ in range(100):  # until the piles are online
    d = call("GET", "/admin/index/manage", token=admin)["data"]
    if d["charge_array"] and all(p["state"] == "REST" for p in d["charge_array"]): break
    time.sleep(0.1)
user = call("POST", "/client/register", {"account": "load@bench.test", "password": "load", "name": "load"})["data"]["token"]
cars = [call("POST", "/client/index/car", {"name": f"c{i}", "power_capacity": 100, "power_current": 0}, user)["data"]["car_id"] for i in range(2005)]
for car in cars[:5]:
    assert call("POST", "/client/index/order", {"car_id": car, "mode": "F", "apply_kwh": 10}, user)["code"] == 200
print(f"ADMIN={admin}; USER={user}; FIRST_CAR={cars[5]}; CARS=2000")
PY
)"

run() {
    local name=$1
    shift
    echo "== $name ($conns connections, $threads threads, ${seconds}s)"
    "$@" | grep -E "Requests/sec|Latency  |50%|90%|99%|Non-2xx|Socket errors|thread [0-9]"
}
run "GET /admin/index/manage" env TOKEN="$ADMIN" \
    wrk -t$threads -c"$conns" -d"${seconds}s" --latency -s "$root/bench/wrk/get.lua" "$api/admin/index/manage"
run "GET /client/index/order?mode=CURRENT" env TOKEN="$USER" \
    wrk -t$threads -c"$conns" -d"${seconds}s" --latency -s "$root/bench/wrk/get.lua" "$api/client/index/order?mode=CURRENT"
run "POST+DELETE /client/index/order (create-then-cancel pairs)" \
    env TOKEN="$USER" FIRST_CAR="$FIRST_CAR" CARS="$CARS" THREADS=$threads \
    wrk -t$threads -c"$conns" -d"${seconds}s" --latency -s "$root/bench/wrk/order_pairs.lua" "$api"
echo "== resident memory of station-api after the runs: $(ps -o rss= -p "${pids[2]}") KB"
