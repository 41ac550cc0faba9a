#!/usr/bin/env bash
# Many stations on the clustered centre (issue #12), on loopback: three stations S1, S2,
# S3 at the edge (each its own mosquitto, scheduler and simulated piles) bridged to a
# three-node RabbitMQ cluster (broker/centre-cluster.sh), S1 through links the test can
# cut, and two station-api instances serving all three on one PostgreSQL, each on the
# cluster's nodes in its own order. Drivers charge at every station through both
# instances (?station=); then one RabbitMQ node is killed (-9), one API instance is killed
# (-9) and its driver moves to the other, and S1's bridge is cut for a while (S1 goes on
# dispatching and billing, S2 goes on taking orders); everything is healed and drained.
# Checks, per station: every bill once in PostgreSQL with the station's cents, the stored
# log position the scheduler's head, both instances' admin views show the station's
# billed totals, the instances' metrics show its log applied to the head; and every order
# answered with success is in PostgreSQL once.
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
    for s in S1 S2 S3; do stop_broker "$dir/edge-$s"; done
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
# S1 reaches the centre through the cuttable links, S2 and S3 straight to the nodes.
stations=(S1 S2 S3)
declare -A scheduler_metrics=()
for s in "${stations[@]}"; do
    addresses="${nodes[*]}"
    [ "$s" = S1 ] && addresses="${links[*]}"
    STATION_BRIDGE_USER=evcs STATION_BRIDGE_PASSWORD_FILE=$dir/centre/password \
        "$src/broker/start-edge.sh" "$dir/edge-$s" "$addresses" "$s" >/dev/null
    edge_station "$(cat "$dir/edge-$s/broker.port")" "-$s"
done

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
        "$build/api/station-api" --broker "$2" --mqtt-user evcs --client-id "api-$1" --station S1,S2,S3 --db "$db" \
        --port "${3:-0}" --port-file "$dir/api-$1.port" --scheduler-timeout-ms 2000 \
        --metrics 127.0.0.1:0 --password-iterations 1000 2>>"$dir/api-$1.log" &
    api_pid[$1]=$!
    for _ in $(seq 100); do [ -s "$dir/api-$1.port" ] && break; sleep 0.1; done
}
start_api 0 "$(uri 0 1 2)"
start_api 1 "$(uri 1 2 0)"
api=("http://127.0.0.1:$(cat "$dir/api-0.port")" "http://127.0.0.1:$(cat "$dir/api-1.port")")
for s in "${stations[@]}"; do
    scheduler_metrics[$s]=$(metrics_url "$dir/scheduler-$s.log")
done

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
# order D CAR MODE KWH KEY STATION: through instance D at STATION, the HTTP status and body
# on one line.
order() {
    curl -s -m 20 -w ' %{http_code}' -X POST "${api[$1]}/client/index/order?station=$6" \
        -H "token: ${tokens[$1]}" -H "Idempotency-Key: $5" \
        -d "{\"car_id\":\"$2\",\"mode\":\"$3\",\"apply_kwh\":$4}"
}
# charge D NAME MODE KWH STATION: a car of driver D and its order at STATION, asked again
# with its key until answered (a 504 is an unknown outcome: the retry tells). The order's
# id is kept in $dir/taken when it is taken.
taken=0
charge() {
    local id answer key="key-$2"
    id=$(car "$1" "$2")
    for _ in $(seq 100); do
        answer=$(order "$1" "$id" "$3" "$4" "$key" "$5")
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
    charge $((n % 2)) "A$n" $spec "${stations[$((n % 3))]}"
done
[ "$taken" = 6 ] && ok "six orders at three stations taken through two API instances" ||
    fail "only $taken of 6 orders taken"

# A RabbitMQ node dies: the one the bridge and instance 0 are on.
"$src/broker/centre-cluster.sh" kill "$dir/centre" 1
for spec in "F 12" "T 9" "F 18" "T 5"; do
    n=$((n + 1))
    charge $((n % 2)) "B$n" $spec "${stations[$((n % 3))]}"
done
[ "$taken" = 10 ] && ok "with node 1 killed, both instances take orders (10 so far)" ||
    fail "with node 1 killed: $taken of 10 orders taken"

# An API instance dies; its driver goes on at the other one (same database: its token holds).
kill -9 "${api_pid[0]}"
api[0]=${api[1]}
for spec in "F 16" "T 8"; do
    n=$((n + 1))
    charge 0 "C$n" $spec "${stations[$((n % 3))]}"
done
[ "$taken" = 12 ] && ok "with instance 0 killed, its driver charges at instance 1 (12 so far)" ||
    fail "with instance 0 killed: $taken of 12 orders taken"

# S1's bridge is cut: S1 bills on, and the other stations take orders.
for p in "${link_pids[@]}"; do kill -USR1 "$p"; done
sleep 1.2  # the scheduler's figures are at most a second old
cut_bills=$(value "${scheduler_metrics[S1]}" evcs_scheduler_bills_total)
late=$(car 1 D-late)
answer=$(order 1 "$late" F 6 key-D-late S1)
[[ "$answer" == *' 504' && "$answer" == *'outcome_unknown'* ]] &&
    ok "with S1's bridge cut, a request there is 504 outcome unknown" ||
    fail "with S1's bridge cut: $answer"
before=$taken
n=$((n + 1))
charge 1 "E$n" T 4 S2
[ "$taken" = $((before + 1)) ] && ok "with S1's bridge cut, S2 takes an order" ||
    fail "with S1's bridge cut, S2 took no order"
bills_on_while_cut "${scheduler_metrics[S1]}" "$cut_bills"

# Heal everything: the links, node 1 (it rejoins), instance 0 (on its old port).
for p in "${link_pids[@]}"; do kill -USR2 "$p"; done
"$src/broker/centre-cluster.sh" restart "$dir/centre" 1
old_port=$(cat "$dir/api-0.port")
rm -f "$dir/api-0.port"
start_api 0 "$(uri 0 1 2)" "$old_port"
api[0]="http://127.0.0.1:$old_port"
retry=""
for _ in $(seq 100); do
    retry=$(order 1 "$late" F 6 key-D-late S1)
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

# Drain, then compare each station with PostgreSQL.
sql() { psql "$db" -X -A -t -c "$1"; }
# station_figures S: the scheduler's bills, billed cents and log head, and PostgreSQL's
# bills (count, distinct keys, cents) and stored position of station S, on one line.
station_figures() {
    local m=${scheduler_metrics[$1]}
    echo "$(value "$m" evcs_scheduler_bills_total | cut -d. -f1)" \
        "$(value "$m" evcs_scheduler_billed_cents_total | cut -d. -f1)" \
        "$(value "$m" evcs_scheduler_log_position | cut -d. -f1)" \
        "$(sql "SELECT COUNT(*) || ' ' || COUNT(DISTINCT station_key) || ' ' || COALESCE(SUM(charge_fee_cents + service_fee_cents), 0)::bigint || ' ' || COALESCE((SELECT pos FROM log_position WHERE station = '$1'), 0) FROM bills WHERE station = '$1'" 2>/dev/null || echo "? ? ? ?")"
}
# Exact when every order in PostgreSQL is closed and each station's bills and position are
# there: bills = count = distinct keys, cents equal, stored position = head.
exact_now() {
    local s f
    [ "$(sql "SELECT COUNT(*) FROM orders WHERE open <> 0" 2>/dev/null || echo "?")" = 0 ] || return 1
    for s in "${stations[@]}"; do
        read -r b c h n k cents pos <<<"$(station_figures "$s")"
        [ "$b $b $c $h" = "$n $k $cents $pos" ] || return 1
    done
}
# Drained: exact twice, 1.2 s apart (the schedulers' figures are at most a second old).
exact=0 same=0
for _ in $(seq 300); do
    if exact_now; then
        same=$((same + 1))
        [ "$same" = 2 ] && { exact=1; break; }
        sleep 1.2
        continue
    fi
    same=0
    sleep 0.2
done
for s in "${stations[@]}"; do
    read -r b c h n k cents pos <<<"$(station_figures "$s")"
    [ "$exact" = 1 ] &&
        ok "drained: PostgreSQL has each of $s's $b bills once, $c cents, its log up to $h" ||
        fail "$s not exact after the drain: station $b bills / $c cents / head $h, PostgreSQL (count distinct cents position) $n $k $cents $pos"
done
[ "$(sql "SELECT COUNT(DISTINCT station) FROM bills")" = 3 ] && ok "bills of three stations" ||
    fail "bills of $(sql "SELECT COUNT(DISTINCT station) FROM bills") stations"
missing=0
while read -r id; do
    [ "$(sql "SELECT COUNT(*) FROM orders WHERE id = $id")" = 1 ] || missing=$((missing + 1))
done <"$dir/taken"
[ "$missing" = 0 ] && ok "each of the $taken orders answered with success is in PostgreSQL once" ||
    fail "$missing of the $taken orders answered with success are not in PostgreSQL"
for i in 0 1; do
    admin=$(curl -s -X POST "${api[$i]}/admin/login" -d '{"account":"admin@centre.test","password":"centre-admin"}' |
        json 'd["data"]["token"]')
    for s in "${stations[@]}"; do
        read -r b c _ <<<"$(station_figures "$s")"
        cents=$(curl -s "${api[$i]}/admin/index/manage?station=$s" -H "token: $admin" |
            json 'round(sum(c["total_fee"] for c in d["data"]["charge_array"]) * 100)')
        [ "$cents" = "$c" ] && ok "instance $i's admin view of $s bills its $cents cents" ||
            fail "instance $i's admin view of $s: $cents cents, the station billed $c"
    done
done
# Each station's replication position as the instances' metrics report it, a series per
# station: the instance that applied a station's last batch shows its head.
for s in "${stations[@]}"; do
    read -r _ _ h _ <<<"$(station_figures "$s")"
    best=0
    for _ in $(seq 50); do
        best=0
        for i in 0 1; do
            v=$(value "$(metrics_url "$dir/api-$i.log")" "evcs_api_log_applied_position{station=\"$s\"}")
            [ "${v%.*}" -gt "$best" ] && best=${v%.*}
        done
        [ "$best" = "$h" ] && break
        sleep 0.2
    done
    [ "$best" = "$h" ] && ok "the instances' metrics show $s's log applied up to its head $h" ||
        fail "the instances' metrics show $s's log applied up to $best, its head is $h"
done

if [ "$fails" != 0 ]; then
    tail -n 30 "$dir"/scheduler-S*.log "$dir/api-0.log" "$dir/api-1.log" "$dir"/edge-S*/broker.log
    exit 1
fi
echo "all checks of three stations on the clustered centre passed"
