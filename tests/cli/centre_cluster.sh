#!/usr/bin/env bash
# The clustered centre (issue #12), on loopback: a station at the edge (its own mosquitto,
# scheduler and simulated piles) bridged to a three-node RabbitMQ cluster
# (broker/centre-cluster.sh) through links the test can cut, and two station-api instances
# on one PostgreSQL, each on the cluster's nodes in its own order. Drivers charge through
# both instances; then one RabbitMQ node is killed (-9), one API instance is killed (-9) and
# its driver moves to the other, and the station's bridge is cut for a while (the station
# goes on dispatching and billing); everything is healed and drained. Checks: every bill
# of the station once in PostgreSQL with the station's cents, every order answered with
# success there once, the applied log position the scheduler's head, and both instances'
# admin views show the station's billed totals.
#   centre_cluster.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
dir=$(mktemp -d)
chmod 711 "$dir"  # mosquitto and postgres, dropping root, reach their files in here
pids=()
api_pid=()
cleanup() {
    for p in "${pids[@]}" "${api_pid[@]}"; do kill "$p" 2>/dev/null || true; done
    stop_broker "$dir/edge"
    "$src/broker/centre-cluster.sh" stop "$dir/centre" >/dev/null 2>&1 || true
    "$src/tests/tools/pg_test_server.sh" stop "$dir/pg" >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    if [ -n "${KEEP_TEST_DIR:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
# shellcheck source=tests/cli/broker_lib.sh
. "$src/tests/cli/broker_lib.sh"
# shellcheck source=tests/cli/metrics_lib.sh
. "$src/tests/cli/metrics_lib.sh"

SECONDS=0
"$src/broker/centre-cluster.sh" start "$dir/centre" 3 >"$dir/cluster.out"
ok "the centre: $(cat "$dir/cluster.out") (up in $SECONDS s)"
mapfile -t nodes <"$dir/centre/mqtt.addresses"
"$src/tests/tools/pg_test_server.sh" start "$dir/pg" >/dev/null
db=$(cat "$dir/pg/uri")

# One cuttable link per node: the bridge may be on any of them when the link is cut.
links=()
link_pids=()
for i in 0 1 2; do
    python3 "$src/tests/tools/tcp_cut.py" "${nodes[$i]##*:}" "$dir/link$i.port" &
    link_pids+=($!)
    pids+=($!)
done
for i in 0 1 2; do
    for _ in $(seq 50); do [ -s "$dir/link$i.port" ] && break; sleep 0.1; done
    links+=("127.0.0.1:$(cat "$dir/link$i.port")")
done
STATION_BRIDGE_USER=evcs STATION_BRIDGE_PASSWORD_FILE=$dir/centre/password \
    "$src/broker/start-edge.sh" "$dir/edge" "${links[*]}" S1 >/dev/null
edge_port=$(cat "$dir/edge/broker.port")

edge_station "$edge_port"

uri() {  # uri I J K: the nodes' MQTT URIs in that order
    local out="" i
    for i in "$@"; do out+="${out:+,}tcp://${nodes[$i]}"; done
    echo "$out"
}
# start_api NAME URIS: an API instance on the cluster (its nodes tried in the given order)
# and on the shared database.
start_api() {
    STATION_ADMIN_ACCOUNT=admin@centre.test STATION_ADMIN_PASSWORD=centre-admin \
        STATION_MQTT_PASSWORD=$(cat "$dir/centre/password") \
        "$build/api/station-api" --broker "$2" --mqtt-user evcs --client-id "api-$1" --station S1 --db "$db" \
        --port "${3:-0}" --port-file "$dir/api-$1.port" --scheduler-timeout-ms 2000 \
        --metrics 127.0.0.1:0 --password-iterations 1000 2>>"$dir/api-$1.log" &
    api_pid[$1]=$!
    for _ in $(seq 100); do [ -s "$dir/api-$1.port" ] && break; sleep 0.1; done
}
start_api 0 "$(uri 0 1 2)"
start_api 1 "$(uri 1 2 0)"
api=("http://127.0.0.1:$(cat "$dir/api-0.port")" "http://127.0.0.1:$(cat "$dir/api-1.port")")
scheduler_metrics=$(metrics_url "$dir/scheduler.log")

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
tokens=()
for d in 0 1; do
    tokens[$d]=$(curl -s -X POST "${api[$d]}/client/register" \
        -d "{\"account\":\"driver$d@centre.test\",\"password\":\"driver-pass\",\"name\":\"司机$d\"}" |
        json 'd["data"]["token"]')
done
# car D NAME: a new car of driver D (through instance D), its id.
car() {
    curl -s -X POST "${api[$1]}/client/index/car" -H "token: ${tokens[$1]}" \
        -d "{\"name\":\"$2\",\"power_capacity\":80,\"power_current\":10}" | json 'd["data"]["car_id"]'
}
# order D CAR MODE KWH KEY: through instance D, the HTTP status and body on one line.
order() {
    curl -s -m 20 -w ' %{http_code}' -X POST "${api[$1]}/client/index/order" -H "token: ${tokens[$1]}" \
        -H "Idempotency-Key: $5" -d "{\"car_id\":\"$2\",\"mode\":\"$3\",\"apply_kwh\":$4}"
}
# charge D NAME MODE KWH: a car of driver D and its order, asked again with its key until
# answered (a 504 is an unknown outcome: the retry tells). The order's id is kept in
# $dir/taken when it is taken.
taken=0
charge() {
    local id answer key="key-$2"
    id=$(car "$1" "$2")
    for _ in $(seq 100); do
        answer=$(order "$1" "$id" "$3" "$4" "$key")
        case "$answer" in
            *'"code":200,'*' 200')
                echo "$answer" | sed 's/ 200$//' | json 'd["data"]["id"]' >>"$dir/taken"
                taken=$((taken + 1))
                return 0 ;;
            *' 504' | *' 000' | *' 503') sleep 0.3 ;;
            *) echo "refused: $answer" >>"$dir/refused"; return 0 ;;
        esac
    done
    fail "order of $2 never answered: $answer"
}
n=0
for spec in "F 30" "F 20" "T 10" "T 7" "F 45" "T 21"; do
    n=$((n + 1))
    charge $((n % 2)) "A$n" $spec
done
[ "$taken" = 6 ] && ok "six orders taken through two API instances" || fail "only $taken of 6 orders taken"

# A RabbitMQ node dies: the one the bridge and instance 0 are on.
"$src/broker/centre-cluster.sh" kill "$dir/centre" 1
for spec in "F 12" "T 9" "F 18" "T 5"; do
    n=$((n + 1))
    charge $((n % 2)) "B$n" $spec
done
[ "$taken" = 10 ] && ok "with node 1 killed, both instances take orders (10 so far)" ||
    fail "with node 1 killed: $taken of 10 orders taken"

# An API instance dies; its driver goes on at the other one (same database: its token holds).
kill -9 "${api_pid[0]}"
api[0]=${api[1]}
for spec in "F 16" "T 8"; do
    n=$((n + 1))
    charge 0 "C$n" $spec
done
[ "$taken" = 12 ] && ok "with instance 0 killed, its driver charges at instance 1 (12 so far)" ||
    fail "with instance 0 killed: $taken of 12 orders taken"

# The station's bridge is cut: the station bills on.
for p in "${link_pids[@]}"; do kill -USR1 "$p"; done
sleep 1.2  # the scheduler's figures are at most a second old
cut_bills=$(value "$scheduler_metrics" evcs_scheduler_bills_total)
late=$(car 1 D-late)
answer=$(order 1 "$late" F 6 key-D-late)
[[ "$answer" == *' 504' && "$answer" == *'outcome_unknown'* ]] &&
    ok "with the bridge cut, a request is 504 outcome unknown" || fail "with the bridge cut: $answer"
bills_on_while_cut "$scheduler_metrics" "$cut_bills"

# Heal everything: the links, node 1 (it rejoins), instance 0 (on its old port).
for p in "${link_pids[@]}"; do kill -USR2 "$p"; done
"$src/broker/centre-cluster.sh" restart "$dir/centre" 1
old_port=$(cat "$dir/api-0.port")
rm -f "$dir/api-0.port"
start_api 0 "$(uri 0 1 2)" "$old_port"
api[0]="http://127.0.0.1:$old_port"
retry=""
for _ in $(seq 100); do
    retry=$(order 1 "$late" F 6 key-D-late)
    [[ "$retry" == *' 504' ]] || break
    sleep 0.3
done
case "$retry" in
    *'"code":200,'*' 200')
        echo "${retry% 200}" | json 'd["data"]["id"]' >>"$dir/taken"
        taken=$((taken + 1))
        ok "healed, the retry with its key gets its real outcome: taken" ;;
    *' 504') fail "the retry after healing is still unknown: $retry" ;;
    *) ok "healed, the retry with its key gets its real outcome: ${retry: -3}" ;;
esac

# Drain, then compare the station with PostgreSQL.
sql() { psql "$db" -X -A -t -c "$1"; }
# Drained: every order in PostgreSQL closed, and the station's bills there; the same twice,
# 1.2 s apart (the scheduler's figures are at most a second old).
exact=0 same=0
for _ in $(seq 300); do
    busy=$(sql "SELECT COUNT(*) FROM orders WHERE open <> 0" 2>/dev/null || echo "?")
    s_bills=$(value "$scheduler_metrics" evcs_scheduler_bills_total)
    s_cents=$(value "$scheduler_metrics" evcs_scheduler_billed_cents_total)
    s_head=$(value "$scheduler_metrics" evcs_scheduler_log_position)
    stored=$(sql "SELECT COUNT(*) || ' ' || COUNT(DISTINCT station_key) || ' ' || COALESCE(SUM(ROUND(charge_fee * 100) + ROUND(service_fee * 100)), 0)::bigint FROM bills" 2>/dev/null || echo "? ? ?")
    if [ "$busy" = 0 ] && [ "$stored" = "${s_bills%.*} ${s_bills%.*} ${s_cents%.*}" ]; then
        same=$((same + 1))
        [ "$same" = 2 ] && { exact=1; break; }
        sleep 1.2
        continue
    fi
    same=0
    sleep 0.2
done
[ "$exact" = 1 ] && ok "drained: PostgreSQL has each of the station's ${s_bills%.*} bills once, ${s_cents%.*} cents" ||
    fail "not exact after the drain: station $s_bills bills / $s_cents cents, PostgreSQL (count distinct cents) $stored, $busy orders open"
missing=0
while read -r id; do
    [ "$(sql "SELECT COUNT(*) FROM orders WHERE id = $id")" = 1 ] || missing=$((missing + 1))
done <"$dir/taken"
[ "$missing" = 0 ] && ok "each of the $taken orders answered with success is in PostgreSQL once" ||
    fail "$missing of the $taken orders answered with success are not in PostgreSQL"
for _ in $(seq 50); do
    positions=""
    for i in 0 1; do
        positions+=" $(value "$(metrics_url "$dir/api-$i.log")" evcs_api_log_applied_position)"
    done
    [ "$positions" = " $s_head $s_head" ] && break
    sleep 0.2
done
[ "$positions" = " $s_head $s_head" ] && ok "both instances have applied the log up to the scheduler's head ($s_head)" ||
    fail "applied positions:$positions, the scheduler's head $s_head"
for i in 0 1; do
    admin=$(curl -s -X POST "${api[$i]}/admin/login" -d '{"account":"admin@centre.test","password":"centre-admin"}' |
        json 'd["data"]["token"]')
    cents=$(curl -s "${api[$i]}/admin/index/manage" -H "token: $admin" |
        json 'round(sum(c["total_fee"] for c in d["data"]["charge_array"]) * 100)')
    [ "$cents" = "${s_cents%.*}" ] && ok "instance $i's admin view bills the station's $cents cents" ||
        fail "instance $i's admin view: $cents cents, the station billed $s_cents"
done

if [ "$fails" != 0 ]; then
    tail -n 30 "$dir/scheduler.log" "$dir/api-0.log" "$dir/api-1.log" "$dir/edge/broker.log"
    exit 1
fi
echo "all clustered-centre checks passed"
