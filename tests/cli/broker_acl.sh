#!/usr/bin/env bash
# Runs broker/prod.conf (broker/start-prod.sh: a free loopback port, a password file made here) and
# checks broker/evcs.acl: anonymous clients are refused; a pile writes only its own topics
# and reads only its own commands; a monitor reads but cannot write; the scheduler reads
# and writes the whole tree. Given the binaries, it also runs station-scheduler and
# station-api with their broker users and checks that a REST request goes through.
#   broker_acl.sh SOURCE_DIR [SCHEDULER_BIN API_BIN PILE_SIM_BIN]
set -euo pipefail
src=$1
scheduler_bin=${2:-}
api_bin=${3:-}
sim_bin=${4:-}
dir=$(mktemp -d)
chmod 711 "$dir"  # mosquitto, dropping root, reaches its files in here
service_pids=()
cleanup() {
    for p in "${service_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    stop_broker "$dir/broker"
    rm -rf "$dir"
}
trap cleanup EXIT
# shellcheck source=tests/cli/broker_lib.sh
. "$src/tests/cli/broker_lib.sh"

broker_prod "$dir" scheduler monitor api F1 T1  # prod.conf through broker/start-prod.sh
port=$broker_port

# receives USER TOPIC PUBLISHER PUB_TOPIC: does USER, subscribed to TOPIC, get what PUBLISHER
# sends to PUB_TOPIC?
receives() {
    local sub=$1 topic=$2 pub=$3 pub_topic=$4 out
    out=$(mktemp)
    # shellcheck disable=SC2046
    mosquitto_sub $(as "$sub" -t "$topic") -C 1 -W 2 >"$out" 2>/dev/null &
    local waiter=$!
    sleep 0.3
    # shellcheck disable=SC2046
    mosquitto_pub $(as "$pub" -t "$pub_topic" -m probe) 2>/dev/null || true
    wait "$waiter" 2>/dev/null || true
    grep -q probe "$out"
    local rc=$?
    rm -f "$out"
    return $rc
}
expect() {
    local want=$1 what=$2
    shift 2
    if receives "$@"; then got=yes; else got=no; fi
    if [ "$got" = "$want" ]; then
        echo "ok: $what"
    else
        echo "FAIL: $what (delivered: $got, expected: $want)"
        fails=$((fails + 1))
    fi
}

expect yes "a pile publishes its own status"        monitor 'evcs/v1/#' F1 evcs/v1/piles/F1/status
expect no  "a pile cannot publish another's status" monitor 'evcs/v1/#' F1 evcs/v1/piles/T1/status
expect no  "a pile cannot publish a request"        scheduler evcs/v1/scheduler/requests F1 evcs/v1/scheduler/requests
expect yes "a pile reads its own commands"          T1 evcs/v1/piles/T1/commands scheduler evcs/v1/piles/T1/commands
expect no  "a pile cannot read another's commands"  F1 evcs/v1/piles/T1/commands scheduler evcs/v1/piles/T1/commands
expect yes "a pile reads the clock"                 F1 evcs/v1/station/clock scheduler evcs/v1/station/clock
expect yes "the scheduler reads pile events"        scheduler 'evcs/v1/piles/+/events' T1 evcs/v1/piles/T1/events
expect no  "a monitor cannot write"                 scheduler 'evcs/v1/#' monitor evcs/v1/piles/T1/commands
expect yes "the API sends requests"                 scheduler evcs/v1/scheduler/requests api evcs/v1/scheduler/requests
expect no  "the API cannot command a pile"          T1 evcs/v1/piles/T1/commands api evcs/v1/piles/T1/commands
expect yes "the API reads its replies"              api evcs/v1/replies/station-api scheduler evcs/v1/replies/station-api
expect yes "the API reads the change log"           api evcs/v1/station/changes scheduler evcs/v1/station/changes
expect no  "a pile cannot read the API's replies"   F1 evcs/v1/replies/station-api scheduler evcs/v1/replies/station-api

if mosquitto_pub -h 127.0.0.1 -p "$port" -u T1 -P pw-F1 -t evcs/v1/piles/T1/status -m x 2>/dev/null; then
    echo "FAIL: a pile logged in with another pile's password"
    fails=$((fails + 1))
else
    echo "ok: a pile cannot log in with another pile's password"
fi
if mosquitto_pub -h 127.0.0.1 -p "$port" -t evcs/v1/piles/F1/status -m x 2>/dev/null; then
    echo "FAIL: an anonymous client was accepted"
    fails=$((fails + 1))
else
    echo "ok: anonymous clients are refused"
fi
if [ -n "$scheduler_bin" ] && [ -n "$api_bin" ]; then
    STATION_MQTT_PASSWORD=pw-scheduler "$scheduler_bin" --broker "tcp://127.0.0.1:$port" --mqtt-user scheduler \
        --sim-start "2026-11-25 06:00:00" --sim-speed 0 >"$dir/scheduler.log" 2>&1 &
    service_pids+=($!)
    STATION_MQTT_PASSWORD=pw-api STATION_ADMIN_ACCOUNT=admin@acl.test STATION_ADMIN_PASSWORD=acl-admin \
        "$api_bin" --broker "tcp://127.0.0.1:$port" --mqtt-user api --db "$dir/api.db" --port 0 \
        --port-file "$dir/api.port" --password-iterations 1000 >"$dir/api.log" 2>&1 &
    service_pids+=($!)
    for _ in $(seq 1 100); do [ -s "$dir/api.port" ] && break; sleep 0.1; done
    api=http://127.0.0.1:$(cat "$dir/api.port")
    token=$(curl -s -X POST "$api/admin/login" -d '{"account":"admin@acl.test","password":"acl-admin"}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
    answer=""
    for _ in $(seq 1 50); do  # until both services are connected and subscribed
        answer=$(curl -s "$api/admin/sim/clock" -H "token: $token")
        case "$answer" in *'"code":0'*) break ;; esac
        sleep 0.2
    done
    case "$answer" in
        *'"time":"2026-11-25 06:00:00"'*) echo "ok: the scheduler and the API work through the ACL with their users" ;;
        *) echo "FAIL: a REST request did not go through the authenticated broker: $answer"
           cat "$dir/scheduler.log" "$dir/api.log"
           fails=$((fails + 1)) ;;
    esac
    if [ -n "$sim_bin" ]; then
        # Each pile with its own password, from one file.
        printf '# pile password\nF1 pw-F1\nT1 pw-T1\n' >"$dir/pile-passwords"
        if STATION_PILE_PASSWORDS_FILE=$dir/pile-passwords "$sim_bin" --broker "tcp://127.0.0.1:$port" \
            --piles F1,T1,F2 >"$dir/pile-sim-missing.log" 2>&1; then
            echo "FAIL: the simulator started without a password for F2"
            fails=$((fails + 1))
        else
            grep -q "no password for pile F2" "$dir/pile-sim-missing.log" &&
                echo "ok: the simulator refuses to start with a pile missing from the passwords file" ||
                { echo "FAIL: $(cat "$dir/pile-sim-missing.log")"; fails=$((fails + 1)); }
        fi
        STATION_PILE_PASSWORDS_FILE=$dir/pile-passwords "$sim_bin" --broker "tcp://127.0.0.1:$port" \
            --piles F1,T1 >"$dir/pile-sim.log" 2>&1 &
        service_pids+=($!)
        for pile in F1 T1; do
            state=""
            for _ in $(seq 1 50); do  # it logs in as itself and reports online: the station takes it
                state=$(curl -s "$api/admin/index/charge?charge_id=$pile" -H "token: $token")
                case "$state" in *'"state":"REST"'*) break ;; esac
                sleep 0.2
            done
            case "$state" in
                *'"state":"REST"'*) echo "ok: simulated pile $pile logs in as its id with its own password and comes online" ;;
                *) echo "FAIL: the simulated pile $pile did not come online through the ACL: $state"
                   cat "$dir/pile-sim.log"
                   fails=$((fails + 1)) ;;
            esac
        done
    fi
fi
[ "$fails" = 0 ] || { cat "$dir/broker/broker.log"; exit 1; }
echo "all ACL checks passed"
