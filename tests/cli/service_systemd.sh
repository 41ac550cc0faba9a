#!/usr/bin/env bash
# The services as systemd runs them (issue #12), without systemd: a notify socket of our
# own (NOTIFY_SOCKET), secrets in files (*_FILE, as LoadCredential= gives them), stderr
# named by JOURNAL_STREAM. Checks: the scheduler logs in to the production broker with the
# password from its file and only then says READY=1, and with a wrong password file never
# does; the API says READY=1 once it serves HTTP, the gateway once it listens; NAME and
# NAME_FILE both set is refused at start, an unreadable file too; with stderr the
# "journal", each line carries its syslog priority (<6> info, <4> warn ...).
#   service_systemd.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
dir=$(mktemp -d)
chmod 711 "$dir"  # mosquitto, dropping root, reaches its files in here
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    stop_broker "$dir/broker"
    rm -rf "$dir"
}
trap cleanup EXIT
# shellcheck source=tests/cli/broker_lib.sh
. "$src/tests/cli/broker_lib.sh"
broker_prod "$dir" scheduler api F1
uri=tcp://127.0.0.1:$broker_port

# listen NAME: a notify socket $dir/NAME.sock whose datagrams go to $dir/NAME.notify.
listen() {
    python3 - "$dir/$1.sock" "$dir/$1.notify" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        out.write(s.recv(4096).decode() + "\n--\n")
        out.flush()
PY
    pids+=($!)
    for _ in $(seq 50); do [ -S "$dir/$1.sock" ] && return 0; sleep 0.1; done
    fail "no notify socket for $1"
}
# ready NAME TENTHS: whether READY=1 came within TENTHS tenths of a second.
ready() {
    for _ in $(seq "$2"); do
        grep -q '^READY=1' "$dir/$1.notify" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
secret() { printf '%s\n' "$2" >"$dir/$1.pw"; chmod 600 "$dir/$1.pw"; }

# start NAME PASSWORD_FILE_NAME COMMAND...: a service with its own notify socket, the
# password file, and stderr a file JOURNAL_STREAM names.
start() {
    local name=$1 pw=$2
    shift 2
    listen "$name"
    : >"$dir/$name.log"
    local stream
    stream=$(stat -c '%d:%i' "$dir/$name.log")
    NOTIFY_SOCKET=$dir/$name.sock JOURNAL_STREAM=$stream STATION_MQTT_PASSWORD_FILE=$dir/$pw.pw \
        "$@" 2>>"$dir/$name.log" &
    pids+=($!)
}

secret scheduler pw-scheduler
secret api pw-api
secret gateway pw-F1  # the gateway logs each pile in as itself
secret wrong not-the-password
cat >"$dir/chargers.json" <<'JSON'
{"chargers": [{"identity": "CP1", "password": "secret-cp1-pass",
  "connectors": [{"connector": 1, "pile": "F1", "mode": "F", "power_kw": 30}]}]}
JSON

start scheduler scheduler "$build/scheduler/service/station-scheduler" --broker "$uri" \
    --mqtt-user scheduler --sim-start "2026-12-03 06:00:00"
start api api "$build/api/station-api" --broker "$uri" --mqtt-user api --db "$dir/station.db" \
    --port 0 --port-file "$dir/api.port"
start gateway gateway "$build/gateway/station-gateway" --broker "$uri" \
    --chargers "$dir/chargers.json" --port 0
start wrong wrong "$build/scheduler/service/station-scheduler" --broker "$uri" \
    --mqtt-user scheduler --client-id station-scheduler-wrong --sim-start "2026-12-03 06:00:00"

for name in scheduler api gateway; do
    if ready "$name" 150; then
        ok "$name said READY=1 ($(grep -m1 '^STATUS=' "$dir/$name.notify"))"
    else
        fail "$name never said READY=1"
        cat "$dir/$name.log"
    fi
    if grep -q '^<6>station-[a-z]* info: ' "$dir/$name.log" && ! grep -qv '^<[0-7]>' "$dir/$name.log"; then
        ok "$name's every line carries its syslog priority for the journal"
    else
        fail "$name's lines lack their priority: $(head -n 3 "$dir/$name.log")"
    fi
done
# The scheduler is ready only once logged in: with the password from its file it was.
if ready wrong 30; then
    fail "a scheduler with a wrong password said READY=1"
else
    ok "a scheduler with a wrong password file is not ready"
fi

# NAME and NAME_FILE both set; a file that cannot be read.
set +e
out=$(STATION_MQTT_PASSWORD=x STATION_MQTT_PASSWORD_FILE=$dir/scheduler.pw \
    "$build/scheduler/service/station-scheduler" --broker "$uri" 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] && [[ "$out" == *"both STATION_MQTT_PASSWORD and STATION_MQTT_PASSWORD_FILE are set"* ]] &&
    ok "both a password and a password file: refused at start" ||
    fail "both set: exit $rc, $out"
for bin in api/station-api gateway/station-gateway pile-sim/station-pile-sim; do
    set +e
    out=$(env -u STATION_MQTT_PASSWORD STATION_MQTT_PASSWORD_FILE=$dir/none.pw \
        "$build/$bin" --broker "$uri" --db "$dir/x.db" --chargers "$dir/chargers.json" 2>&1)
    rc=$?
    set -e
    [ "$rc" = 1 ] && [[ "$out" == *"cannot read $dir/none.pw"* ]] &&
        ok "$(basename "$bin"): an unreadable password file ends the start with the reason" ||
        fail "$(basename "$bin") with an unreadable password file: exit $rc, $out"
done

if [ "$fails" != 0 ]; then
    exit 1
fi
echo "all service checks passed"
