# shellcheck shell=bash
# Sourced (not run) by bench/api_pairs_compare.sh, bench/log_lag.sh and bench/catch_up.sh:
# starts and stops the running system of one build on loopback, the way bench/api_bench.sh
# does (broker of that source tree, scheduler with a stopped simulated clock and its
# journal, pile simulator, station-api with 128 threads and a fresh SQLite file), on the
# same profile: 10 fast piles of 3 places and a waiting area of 200.
#
#   stack_start BUILD SRC WORK [API_ARGS...]   sets STACK_URI, STACK_API, STACK_API_PID
#   stack_setup CARS OPEN                      prints ADMIN=..; USER_TOKEN=..; FIRST_CAR=..; CARS=..
#   stack_stop_api / stack_start_api BUILD WORK [API_ARGS...]
#   stack_stop_all                             ends every process started here (trap it)
#
# Every wait is bounded. Only processes started here are ended, by their PIDs.

STACK_PIDS=()
STACK_BROKER_PIDFILES=()
STACK_API_PID=
STACK_SCHED_PID=

# wall ms, for logs
stack_ms() { date +%s%3N; }

stack_alive() {  # PID: running (an exited child not yet waited for is a zombie: not running)
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "${st:0:1}" != Z ]
}

stack_kill_wait() {  # PID: SIGTERM, up to 10 s, then SIGKILL
    local pid=$1
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        stack_alive "$pid" || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stack_stop_all() {
    local i
    for ((i = ${#STACK_PIDS[@]} - 1; i >= 0; i--)); do
        stack_kill_wait "${STACK_PIDS[$i]}"
    done
    STACK_PIDS=()
    STACK_API_PID=
    for f in "${STACK_BROKER_PIDFILES[@]}"; do
        [ -s "$f" ] && stack_kill_wait "$(cat "$f")"
    done
    STACK_BROKER_PIDFILES=()
}

stack_forget_pid() {
    local keep=() p
    for p in "${STACK_PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
    STACK_PIDS=("${keep[@]}")
}

stack_write_profile() {
    python3 - "$1" <<'PY'
import json, sys
piles = [{"id": f"F{i}", "mode": "F", "power": 30} for i in range(1, 11)] + [{"id": "T1", "mode": "T", "power": 10}]
json.dump({"name": "bench-api", "waiting_area": 200, "queue_length": 3, "piles": piles}, open(sys.argv[1], "w"))
PY
}

stack_check_build() {  # BUILD SRC
    local b
    for b in scheduler/service/station-scheduler pile-sim/station-pile-sim api/station-api; do
        if [ ! -x "$1/$b" ]; then
            echo "missing $1/$b (build it first)" >&2
            return 1
        fi
    done
    [ -x "$2/broker/start-dev.sh" ] || { echo "missing $2/broker/start-dev.sh" >&2; return 1; }
}

stack_start_api() {  # BUILD WORK [API_ARGS...]
    local build=$1 work=$2
    shift 2
    rm -f "$work/api.port"
    STATION_ADMIN_ACCOUNT=bench@station.local STATION_ADMIN_PASSWORD=bench-admin \
        "$build/api/station-api" --broker "$STACK_URI" --db "$work/api.db" --port 0 \
        --port-file "$work/api.port" --threads 128 --password-iterations 1000 "$@" \
        2>>"$work/api.log" &
    STACK_API_PID=$!
    STACK_PIDS+=("$STACK_API_PID")
    for _ in $(seq 200); do
        [ -s "$work/api.port" ] && break
        stack_alive "$STACK_API_PID" || { echo "station-api exited; see $work/api.log" >&2; tail -5 "$work/api.log" >&2; return 1; }
        sleep 0.05
    done
    [ -s "$work/api.port" ] || { echo "station-api did not listen within 10 s" >&2; return 1; }
    STACK_API=http://127.0.0.1:$(cat "$work/api.port")
}

stack_stop_api() {
    [ -n "$STACK_API_PID" ] || return 0
    stack_kill_wait "$STACK_API_PID"
    stack_forget_pid "$STACK_API_PID"
    STACK_API_PID=
}

stack_start() {  # BUILD SRC WORK [API_ARGS...]
    local build=$1 src=$2 work=$3
    shift 3
    stack_check_build "$build" "$src" || return 1
    rm -rf "$work" && mkdir -p "$work"
    stack_write_profile "$work/profile.json"
    STACK_BROKER_PIDFILES+=("$work/broker/broker.pid")
    "$src/broker/start-dev.sh" "$work/broker" 0 >/dev/null
    STACK_URI=tcp://127.0.0.1:$(cat "$work/broker/broker.port")
    "$build/scheduler/service/station-scheduler" --broker "$STACK_URI" --profile "$work/profile.json" \
        --sim-start "2026-11-25 06:00:00" --sim-speed 0 --journal "$work/scheduler.journal" \
        2>"$work/scheduler.log" &
    STACK_SCHED_PID=$!
    STACK_PIDS+=("$STACK_SCHED_PID")
    "$build/pile-sim/station-pile-sim" --broker "$STACK_URI" --profile "$work/profile.json" \
        2>"$work/pile-sim.log" &
    STACK_PIDS+=($!)
    stack_start_api "$build" "$work" "$@"
}

# A user with CARS + OPEN cars, OPEN of them with an open order (fast, 10 kWh), once every
# pile is online. Prints shell assignments: ADMIN, USER_TOKEN (tokens), FIRST_CAR (the first car
# without an order; the cars are consecutive ids), CARS.
stack_setup() {  # CARS OPEN
    python3 - "$STACK_API" "$1" "$2" <<'PY'
import http.client, json, sys, time, urllib.parse
api, ncars, nopen = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
u = urllib.parse.urlparse(api)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
def call(method, path, body=None, token=None):
    h = {"Content-Type": "application/json"}
    if token: h["token"] = token
    c.request(method, path, json.dumps(body) if body is not None else None, h)
    return json.loads(c.getresponse().read())
admin = None
for _ in range(100):  # the API answers once its scheduler link is up
    try:
        admin = call("POST", "/admin/login", {"account": "bench@station.local", "password": "bench-admin"})["data"]["token"]
        break
    except Exception:
        time.sleep(0.1)
        c.close()
if admin is None: sys.exit("admin login failed")
for _ in range(200):  # until the piles are online (20 s at most)
    d = call("GET", "/admin/index/manage", token=admin)["data"]
    if d and d["charge_array"] and all(p["state"] == "REST" for p in d["charge_array"]): break
    time.sleep(0.1)
else:
    sys.exit("the piles did not come online")
user = call("POST", "/client/register", {"account": "load@bench.test", "password": "load", "name": "load"})["data"]["token"]
cars = [call("POST", "/client/index/car", {"name": f"c{i}", "power_capacity": 100, "power_current": 0}, user)["data"]["car_id"]
        for i in range(ncars + nopen)]
ids = [int(x) for x in cars]
assert ids == list(range(ids[0], ids[0] + len(ids))), "car ids are not consecutive"
for car in cars[:nopen]:
    r = call("POST", "/client/index/order", {"car_id": car, "mode": "F", "apply_kwh": 10}, user)
    assert r["code"] == 200, r
print(f"ADMIN={admin}; USER_TOKEN={user}; FIRST_CAR={cars[nopen]}; CARS={ncars}")
PY
}
