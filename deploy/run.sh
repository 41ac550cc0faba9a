#!/usr/bin/env bash
# The run command (README): installs what it needs, builds, and runs the station on the
# embedded defaults — a mosquitto broker on loopback, the scheduler with a simulated clock
# (today 06:00, ten times real speed), and one simulated pile per pile of the profile —
# then sends a few demo requests so there is something to watch. Ctrl-C stops it all.
#   deploy/run.sh [--profile NAME|FILE] [--speed X] [--port N] [--no-demo]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
profile=bupt-2023 speed=10 port=1883 demo=1
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile=$2; shift 2 ;;
        --speed) speed=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --no-demo) demo=0; shift ;;
        *) echo "usage: deploy/run.sh [--profile NAME|FILE] [--speed X] [--port N] [--no-demo]" >&2; exit 2 ;;
    esac
done

"$root/deploy/install-deps.sh" >&2
cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
cmake --build "$root/build/release" -j "$(nproc 2>/dev/null || echo 2)" \
    --target station-scheduler station-pile-sim station-replay >&2
bin=$root/build/release
run=$root/build/run
rm -rf "$run" && mkdir -p "$run"

# Port 1883 may already be taken (Debian's mosquitto service): then any free port.
if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)) != 0)"; then
    echo "port $port is in use; taking a free one" >&2
    port=0
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
    --sim-start "$start" --sim-speed "$speed" 2>"$run/scheduler.log" &
pids+=($!)
"$bin/pile-sim/station-pile-sim" --broker "$uri" --profile "$profile" 2>"$run/pile-sim.log" &
pids+=($!)

cat <<MSG
The station is running: broker $uri, profile $profile, station clock from $start at x$speed.
Logs: $run/{scheduler,pile-sim}.log and $run/broker/broker.log

Watch the live station (piles, sessions, bills, state):
  mosquitto_sub -h 127.0.0.1 -p $port -v -t 'evcs/v1/#'
Ask for a car to be charged, and read the reply:
  mosquitto_sub -h 127.0.0.1 -p $port -t 'evcs/v1/replies/me' &
  mosquitto_pub -h 127.0.0.1 -p $port -q 1 -t evcs/v1/scheduler/requests \\
    -m '{"id":"r1","reply_to":"evcs/v1/replies/me","op":"submit","car":"CAR-1","mode":"F","kwh":20}'
Ctrl-C stops everything.
MSG

if [ "$demo" = 1 ]; then
    sleep 2  # the piles connect and report online
    n=0
    for req in "D1 F 30" "D2 T 10" "D3 F 15" "D4 T 21" "D5 T 7" "D6 F 45"; do
        set -- $req
        n=$((n + 1))
        mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t evcs/v1/scheduler/requests \
            -m "{\"id\":\"demo-$n\",\"reply_to\":\"evcs/v1/replies/demo\",\"op\":\"submit\",\"car\":\"$1\",\"mode\":\"$2\",\"kwh\":$3}"
    done
    echo "Sent 6 demo requests (cars D1-D6)."
fi
wait "${pids[0]}"
