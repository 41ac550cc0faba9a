#!/usr/bin/env bash
# "check && ok || fail": ok only prints.
# shellcheck disable=SC2015
# MQTT over TLS (issue #12: a station's link to the centre crosses networks): a mosquitto
# TLS listener with a certificate of a test authority (made here with openssl, for
# 127.0.0.1), and the services on ssl:// with STATION_MQTT_CA_FILE: the scheduler connects
# and publishes through it, the pile simulator and the API connect; a certificate of
# another authority, or one that names another host, is refused (nothing connects), and a
# CA file that is missing or holds no certificate stops the service at start.
#   broker_tls.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
# shellcheck source=tests/cli/broker_lib.sh
. "$src/tests/cli/broker_lib.sh"
dir=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"

# ---- two authorities; the broker's certificates: one for 127.0.0.1, one for another name ---
tls_authority "$dir/good"
tls_authority "$dir/other"
tls_certificate "$dir/good" broker IP:127.0.0.1
tls_certificate "$dir/good" elsewhere DNS:elsewhere.test
tls_port=$(free_port)
wrong_name_port=$(free_port)
printf '%s\n' "per_listener_settings false" "allow_anonymous true" "persistence false" \
    "log_type all" "log_dest stderr" \
    "listener $tls_port 127.0.0.1" "certfile $dir/good/broker.pem" "keyfile $dir/good/broker.key" \
    "listener $wrong_name_port 127.0.0.1" "certfile $dir/good/elsewhere.pem" "keyfile $dir/good/elsewhere.key" \
    >mosquitto.conf
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then  # mosquitto drops to its user
    chmod a+x "$dir" "$dir/good"
    chmod a+r "$dir"/good/*.key
fi
mosquitto -c mosquitto.conf >broker.log 2>&1 &
pids+=($!)
for _ in $(seq 50); do
    python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $tls_port)))" 2>/dev/null && break
    sleep 0.1
done

scheduler() {  # LOG URI CA: the scheduler on a stepped clock in the background
    STATION_MQTT_CA_FILE=$3 "$build/scheduler/service/station-scheduler" --broker "$2" \
        --client-id "sched-$1" --sim-start "2026-12-01 08:00:00" --sim-speed 0 >"$1.log" 2>&1 &
    pids+=($!)
}
connected() { grep -q "connected to the broker" "$1.log"; }
wait_for() {  # SECONDS COMMAND...
    local n=$(($1 * 10))
    shift
    for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
    return 1
}

# ---- the good authority: connected, and the state crosses ------------------------------------
mosquitto_sub -h 127.0.0.1 -p "$tls_port" --cafile good/ca.pem -t evcs/v1/station/state -C 1 -W 20 \
    >state.txt 2>&1 &
sub_pid=$!
sleep 0.3
scheduler good "ssl://127.0.0.1:$tls_port" "$dir/good/ca.pem"
wait_for 10 connected good && ok "the scheduler connects over TLS with the authority's CA file" ||
    fail "the scheduler did not connect over TLS: $(tail -n 3 good.log)"
wait "$sub_pid" || true
grep -q '"piles"' state.txt && ok "its station state arrives over TLS" || fail "no state over TLS: $(head -c 200 state.txt)"
STATION_MQTT_CA_FILE=$dir/good/ca.pem "$build/pile-sim/station-pile-sim" --broker "ssl://127.0.0.1:$tls_port" \
    --piles F1 >pile-sim.log 2>&1 &
pids+=($!)
wait_for 10 grep -q "pile-F1" broker.log && ok "the pile simulator connects over TLS" ||
    fail "the pile simulator did not connect: $(tail -n 3 pile-sim.log)"
STATION_MQTT_CA_FILE=$dir/good/ca.pem "$build/api/station-api" --broker "ssl://127.0.0.1:$tls_port" \
    --db "$dir/api.db" --host 127.0.0.1 --port 0 --port-file api.port --password-iterations 1000 \
    >api.log 2>&1 &
pids+=($!)
wait_for 10 grep -q "as station-api[ -]" broker.log && ok "the API connects over TLS" ||
    fail "the API did not connect: $(tail -n 3 api.log)"

# ---- refused: another authority, a certificate naming another host ---------------------------
scheduler other "ssl://127.0.0.1:$tls_port" "$dir/other/ca.pem"
scheduler name "ssl://127.0.0.1:$wrong_name_port" "$dir/good/ca.pem"
sleep 3
connected other && fail "a broker certificate of another authority was accepted" ||
    ok "a broker certificate of another authority is refused"
connected name && fail "a broker certificate for another host name was accepted" ||
    ok "a broker certificate that names another host is refused"
grep -q "as sched-other\|as sched-name" broker.log && fail "a refused client got a session" || true

# ---- a CA file that cannot be used stops the start -------------------------------------------
rc=0
out=$(STATION_MQTT_CA_FILE=$dir/none.pem "$build/scheduler/service/station-scheduler" \
    --broker "ssl://127.0.0.1:$tls_port" 2>&1) || rc=$?
[ "$rc" = 1 ] && [[ "$out" == *"cannot read STATION_MQTT_CA_FILE"* ]] &&
    ok "a missing CA file stops the scheduler at start and says so" || fail "a missing CA file: $rc $out"
echo "not a certificate" >junk.pem
rc=0
out=$(STATION_MQTT_CA_FILE=$dir/junk.pem "$build/api/station-api" --db "$dir/junk.db" 2>&1) || rc=$?
[ "$rc" = 1 ] && [[ "$out" == *"holds no PEM certificate"* ]] &&
    ok "a CA file without a certificate stops the API at start and says so" || fail "a junk CA file: $rc $out"

echo "$fails failure(s)"
[ "$fails" = 0 ]
