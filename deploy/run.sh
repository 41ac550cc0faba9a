#!/usr/bin/env bash
# The run command (README): installs what it needs, builds, and runs the station on the
# embedded defaults — a mosquitto broker on loopback, the scheduler with a simulated clock
# (today 06:00, ten times real speed), one simulated pile per pile of the profile, and the
# REST API on 127.0.0.1:8080 — then sends a few demo requests through the API so there is
# something to watch. Ctrl-C stops it all.
#   deploy/run.sh [--profile NAME|FILE] [--speed X] [--port N] [--http-port N] [--no-demo]
# The first admin is STATION_ADMIN_ACCOUNT / STATION_ADMIN_PASSWORD (default
# admin@station.local and a random password, printed once).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
profile=bupt-2023 speed=10 port=1883 http_port=8080 demo=1
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile=$2; shift 2 ;;
        --speed) speed=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --http-port) http_port=$2; shift 2 ;;
        --no-demo) demo=0; shift ;;
        *) echo "usage: deploy/run.sh [--profile NAME|FILE] [--speed X] [--port N] [--http-port N] [--no-demo]" >&2
           exit 2 ;;
    esac
done

"$root/deploy/install-deps.sh" >&2
cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
cmake --build "$root/build/release" -j "$(nproc 2>/dev/null || echo 2)" \
    --target station-scheduler station-pile-sim station-api station-replay >&2
bin=$root/build/release
run=$root/build/run
# A run still stopping (the simulated piles disconnect cleanly, which takes seconds) would
# reconnect its piles to the new broker under the same client ids: wait for it to end.
if [ -f "$run/pids" ]; then
    for pid in $(cat "$run/pids"); do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
    done
fi
rm -rf "$run" && mkdir -p "$run"

in_use() { python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $1)) != 0)"; }
# Port 1883 may already be taken (Debian's mosquitto service): then any free port.
if in_use "$port"; then
    echo "port $port is in use; taking a free one" >&2
    port=0
fi
if in_use "$http_port"; then
    echo "port $http_port is in use; the API takes a free one" >&2
    http_port=0
fi
"$root/broker/start-dev.sh" "$run/broker" "$port" >&2
port=$(cat "$run/broker/broker.port")
uri=tcp://127.0.0.1:$port
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait "${pids[@]}" 2>/dev/null || true
    kill "$(cat "$run/broker/broker.pid")" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

start="$(date +%F) 06:00:00"
"$bin/scheduler/service/station-scheduler" --broker "$uri" --profile "$profile" \
    --sim-start "$start" --sim-speed "$speed" --journal "$run/scheduler.journal" 2>"$run/scheduler.log" &
pids+=($!)
"$bin/pile-sim/station-pile-sim" --broker "$uri" --profile "$profile" 2>"$run/pile-sim.log" &
pids+=($!)
export STATION_ADMIN_ACCOUNT=${STATION_ADMIN_ACCOUNT:-admin@station.local}
if [ -z "${STATION_ADMIN_PASSWORD:-}" ]; then
    STATION_ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')
fi
export STATION_ADMIN_PASSWORD
"$bin/api/station-api" --broker "$uri" --db "$run/station.db" --port "$http_port" \
    --port-file "$run/api.port" 2>"$run/api.log" &
pids+=($!)
echo "${pids[*]} $(cat "$run/broker/broker.pid")" >"$run/pids"
for _ in $(seq 100); do [ -s "$run/api.port" ] && break; sleep 0.1; done
http_port=$(cat "$run/api.port")
api=http://127.0.0.1:$http_port

cat <<MSG
The station is running: broker $uri, profile $profile, station clock from $start at x$speed.
REST API: $api   (admin: $STATION_ADMIN_ACCOUNT / $STATION_ADMIN_PASSWORD)
Pages:    $api/client/index   $api/admin/index
Logs:     $run/{scheduler,pile-sim,api}.log and $run/broker/broker.log
The README shows a curl session; docs/openapi.yaml documents every endpoint.
Watch the bus: mosquitto_sub -h 127.0.0.1 -p $port -v -t 'evcs/v1/#'
Ctrl-C stops everything.
MSG

if [ "$demo" = 1 ]; then
    sleep 2  # the piles connect and report online
    token=$(curl -s -X POST "$api/client/register" \
        -d '{"account":"demo@station.local","password":"demo","name":"演示用户"}' |
        python3 -c 'import json,sys; print((json.load(sys.stdin)["data"] or {}).get("token") or "")')
    if [ -n "$token" ]; then
        for req in "D1 F 30" "D2 T 10" "D3 F 15" "D4 T 21" "D5 T 7" "D6 F 45"; do
            set -- $req
            car=$(curl -s -X POST "$api/client/index/car" -H "token: $token" \
                -d "{\"name\":\"$1\",\"power_capacity\":80,\"power_current\":10}" |
                python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["car_id"])')
            curl -s -o /dev/null -X POST "$api/client/index/order" -H "token: $token" \
                -d "{\"car_id\":\"$car\",\"mode\":\"$2\",\"apply_kwh\":$3}"
        done
        echo "Demo: user demo@station.local (password demo) asked to charge six cars (D1-D6)."
    fi
fi
wait "${pids[0]}"
