#!/usr/bin/env bash
# A station at the edge, its API at the centre (issue #12), on loopback: the station's
# own broker (broker/start-edge.sh) with its scheduler and simulated piles, bridged through
# a link the test can cut (tests/tools/tcp_cut.py) to a centre broker where station-api
# runs. Checks: drivers charge through the centre; with the link cut the station goes on
# dispatching and billing, a request through the centre is answered 504 (outcome unknown,
# never a success) and the centre's broker shows the bridge down; once healed, a retry of
# that request with its Idempotency-Key gets its real outcome, and after the drain the
# centre's copy is exact: every bill of the station once in the API's database, the same
# cents, the API's applied log position the scheduler's head.
#   edge_centre.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
dir=$(mktemp -d)
chmod 711 "$dir"  # mosquitto, dropping root, reaches its files in here
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for b in edge centre; do
        stop_broker "$dir/$b"
    done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
# shellcheck source=tests/cli/broker_lib.sh
. "$src/tests/cli/broker_lib.sh"
# shellcheck source=tests/cli/metrics_lib.sh
. "$src/tests/cli/metrics_lib.sh"

"$src/broker/start-dev.sh" "$dir/centre" >/dev/null
centre_port=$(cat "$dir/centre/broker.port")
python3 "$src/tests/tools/tcp_cut.py" "$centre_port" "$dir/link.port" &
link_pid=$!
pids+=("$link_pid")
for _ in $(seq 50); do [ -s "$dir/link.port" ] && break; sleep 0.1; done
"$src/broker/start-edge.sh" "$dir/edge" "127.0.0.1:$(cat "$dir/link.port")" S1 >/dev/null
edge_port=$(cat "$dir/edge/broker.port")

edge_station "$edge_port"
STATION_ADMIN_ACCOUNT=admin@centre.test STATION_ADMIN_PASSWORD=centre-admin \
    "$build/api/station-api" --broker "tcp://127.0.0.1:$centre_port" --station S1 --db "$dir/station.db" \
    --port 0 --port-file "$dir/api.port" --scheduler-timeout-ms 2000 --metrics 127.0.0.1:0 \
    2>"$dir/api.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$dir/api.port" ] && break; sleep 0.1; done
api=http://127.0.0.1:$(cat "$dir/api.port")
scheduler_metrics=$(metrics_url "$dir/scheduler.log")
api_metrics=$(metrics_url "$dir/api.log")

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
token=$(curl -s -X POST "$api/client/register" \
    -d '{"account":"driver@centre.test","password":"driver-pass","name":"司机"}' | json 'd["data"]["token"]')
car() {
    curl -s -X POST "$api/client/index/car" -H "token: $token" \
        -d "{\"name\":\"$1\",\"power_capacity\":80,\"power_current\":10}" | json 'd["data"]["car_id"]'
}
# order CAR MODE KWH [KEY]: the HTTP status and the body, on one line.
order() {
    curl -s -w ' %{http_code}' -X POST "$api/client/index/order" -H "token: $token" \
        ${4:+-H "Idempotency-Key: $4"} -d "{\"car_id\":\"$1\",\"mode\":\"$2\",\"apply_kwh\":$3}"
}
# Through the centre: the requests cross the bridge to the station and back.
submitted=0
for spec in "E1 F 30" "E2 F 20" "E3 T 10" "E4 T 7" "E5 F 45" "E6 T 21"; do
    set -- $spec
    id=$(car "$1")
    for _ in $(seq 50); do
        answer=$(order "$id" "$2" "$3")
        case "$answer" in *'"code":200,'*' 200') submitted=$((submitted + 1)); break ;; esac
        sleep 0.2  # the piles and the bridge are still coming up
    done
done
[ "$submitted" = 6 ] && ok "six orders taken through the centre" || fail "only $submitted of 6 orders taken: $answer"
for _ in $(seq 150); do
    [ "$(value "$api_metrics" evcs_api_bills_total | cut -d. -f1)" -ge 1 ] && break
    sleep 0.2
done
api_bills=$(value "$api_metrics" evcs_api_bills_total)
[ "${api_bills%.*}" -ge 1 ] && ok "the centre's API has the station's first bills ($api_bills)" ||
    fail "no bill reached the centre"

# At the centre the station's topics carry its id (the bridge's remote prefix).
named=$(mosquitto_sub -p "$centre_port" -t 'evcs/v1/stations/S1/station/state' -C 1 -W 3 | head -c 20 || true)
bare=$(mosquitto_sub -p "$centre_port" -t 'evcs/v1/station/#' -W 2 | head -c 20 || true)
[ -n "$named" ] && [ -z "$bare" ] &&
    ok "at the centre the station's state is under evcs/v1/stations/S1/, nothing under evcs/v1/station/" ||
    fail "centre topics: under stations/S1: '$named', bare: '$bare'"

# Cut the link.
kill -USR1 "$link_pid"
sleep 1.2  # the scheduler's figures are at most a second old
cut_bills=$(value "$scheduler_metrics" evcs_scheduler_bills_total)
late=$(car E7)
answer=$(order "$late" F 5 key-during-cut)
[[ "$answer" == *' 504' && "$answer" == *'outcome_unknown'* ]] &&
    ok "with the link cut a request through the centre is 504 outcome unknown" ||
    fail "with the link cut: $answer"
link_state=$(mosquitto_sub -p "$centre_port" -t '$SYS/broker/connection/bridge-S1/state' -C 1 -W 3 || true)
[ "$link_state" = 0 ] && ok "the centre's broker shows the bridge down" || fail "bridge state at the centre: '$link_state'"
bills_on_while_cut "$scheduler_metrics" "$cut_bills"
sleep 2

# Heal; retry the request made during the cut; drain.
kill -USR2 "$link_pid"
retry=""
for _ in $(seq 50); do
    retry=$(order "$late" F 5 key-during-cut)
    [[ "$retry" == *' 504' ]] || break
    sleep 0.3
done
[[ "$retry" != *' 504' ]] && ok "healed, the retry with its key gets the real outcome: ${retry: -3} $(echo "${retry% *}" | head -c 80)" ||
    fail "the retry after healing is still unknown: $retry"
exact=0
for _ in $(seq 300); do
    busy=$(( $(value "$scheduler_metrics" evcs_scheduler_sessions_active | cut -d. -f1) +
             $(value "$scheduler_metrics" evcs_scheduler_waiting_cars | cut -d. -f1) ))
    s_bills=$(value "$scheduler_metrics" evcs_scheduler_bills_total)
    s_cents=$(value "$scheduler_metrics" evcs_scheduler_billed_cents_total)
    s_head=$(value "$scheduler_metrics" evcs_scheduler_log_position)
    a_bills=$(value "$api_metrics" evcs_api_bills_total)
    a_cents=$(value "$api_metrics" evcs_api_billed_cents_total)
    a_pos=$(value "$api_metrics" 'evcs_api_log_applied_position{station="S1"}')
    if [ "$busy" = 0 ] && [ "$s_bills" = "$a_bills" ] && [ "$s_cents" = "$a_cents" ] &&
        [ "$s_head" = "$a_pos" ]; then
        exact=1
        break
    fi
    sleep 0.2
done
[ "$exact" = 1 ] && ok "drained: the centre has the station's $a_bills bills, $a_cents cents, log position $a_pos" ||
    fail "not exact after the drain: station $s_bills bills / $s_cents cents / head $s_head, centre $a_bills / $a_cents / $a_pos (busy $busy)"
rows=$(sqlite3 "file:$dir/station.db?mode=ro" 'SELECT COUNT(*) || " " || COUNT(DISTINCT station_key) FROM bills')
[ "$rows" = "${s_bills%.*} ${s_bills%.*}" ] && ok "every bill once in the centre's database ($rows)" ||
    fail "bills in the centre's database: $rows (count, distinct), the station made $s_bills"

if [ "$fails" != 0 ]; then
    tail -n 30 "$dir/scheduler.log" "$dir/api.log" "$dir/edge/broker.log"
    exit 1
fi
echo "all edge and centre checks passed"
