#!/usr/bin/env bash
# Client ids are bound to accounts on broker/prod.conf (security issue #9): a pile's account
# that connects with the scheduler's client id (station-scheduler), the API's (station-api)
# or another pile's must not disconnect that client (mosquitto closes the older connection
# of a client id that connects again, so without the binding any account could cut the
# scheduler off the bus).
#   broker_clientid.sh SOURCE_DIR
set -euo pipefail
src=$1
dir=$(mktemp -d)
chmod 711 "$dir"  # mosquitto, dropping root, reaches its files in here
sub_pids=()
cleanup() {
    for p in "${sub_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    stop_broker "$dir/broker"
    rm -rf "$dir"
}
trap cleanup EXIT
# shellcheck source=tests/cli/broker_lib.sh
. "$src/tests/cli/broker_lib.sh"

broker_prod "$dir" scheduler api F1 T1

# victim NAME USER CLIENT_ID TOPIC: a client that stays connected with the client id its
# service uses, subscribed to TOPIC. -d logs every CONNECT it sends: one that was
# disconnected connects again, and a second CONNECT shows it.
victim() {
    # shellcheck disable=SC2046
    stdbuf -oL mosquitto_sub $(as "$2" -i "$3" -t "$4") -d >"$dir/$1.log" 2>&1 &
    sub_pids+=($!)
}
victim scheduler scheduler station-scheduler 'evcs/v1/piles/+/status'
victim api api station-api evcs/v1/replies/station-api
victim pile F1 pile-F1 evcs/v1/piles/F1/commands
for name in scheduler api pile; do
    for _ in $(seq 1 50); do grep -q '^Subscribed' "$dir/$name.log" && break; sleep 0.1; done
    grep -q '^Subscribed' "$dir/$name.log" || { cat "$dir/$name.log"; echo "FAIL: $name did not subscribe"; exit 1; }
done

# The intruder: pile T1's account (its own password) with each of those client ids.
for id in station-scheduler station-api pile-F1 F1 scheduler api; do
    # shellcheck disable=SC2046
    mosquitto_pub $(as T1 -i "$id" -t evcs/v1/piles/T1/status -m "intruder-as-$id") ||
        fail "pile T1 could not connect with the client id $id"
done
sleep 1
# Afterwards each victim still gets what is sent to it, on its first connection.
# shellcheck disable=SC2046
mosquitto_pub $(as T1 -t evcs/v1/piles/T1/status -m after-scheduler)
# shellcheck disable=SC2046
mosquitto_pub $(as scheduler -t evcs/v1/replies/station-api -m after-api)
# shellcheck disable=SC2046
mosquitto_pub $(as scheduler -t evcs/v1/piles/F1/commands -m after-pile)
sleep 0.5

check() {
    local name=$1 what=$2 connects
    connects=$(grep -c 'sending CONNECT' "$dir/$name.log" || true)
    if [ "$connects" = 1 ] && grep -q "^after-$name\$" "$dir/$name.log"; then
        ok "$what"
    else
        fail "$what (connections: $connects; $(grep -c "^after-$name\$" "$dir/$name.log" || true) of 1 later message received)"
        cat "$dir/$name.log"
    fi
}
check scheduler "a pile using the client id station-scheduler does not disconnect the scheduler"
check api "a pile using the client id station-api does not disconnect the API"
check pile "a pile using another pile's client id does not disconnect that pile"

[ "$fails" = 0 ] || { cat "$dir/broker/broker.log"; exit 1; }
echo "all client id checks passed"
