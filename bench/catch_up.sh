#!/usr/bin/env bash
# The REST API catching up after missing N changes of the scheduler's log (new build only:
# the base API has no log position and cannot ask for what it missed; whatever its broker
# session did not queue for it is lost, so there is nothing to time).
#
#   1. starts the system (bench/stack_lib.sh: broker, scheduler with its journal and the
#      stopped simulated clock, pile simulator, station-api), creates a user with 400 cars
#      through REST and waits until the API's stored log position equals the scheduler's
#      head;
#   2. stops the API (SIGTERM);
#   3. drives the scheduler with submit/cancel requests over MQTT (log_lag --mode drive,
#      as fast as 200 outstanding requests allow) until its log head (stats request,
#      `log_position`) has advanced N positions;
#   4. starts the API again with a NEW MQTT client id (--client-id), so that no message
#      the broker queued for its old session helps it, and times from that start until its
#      stored position (log_position.pos, read-only) equals the head: it must ask the
#      scheduler for every change it missed (`changes` requests).
#
#   bench/catch_up.sh [N]        default 100000
#
# Environment: NEW_BUILD (build/bench of this tree), NEW_SRC (this tree), LOG_LAG,
# OUT (build/bench/out/catch_up), DRIVE_TIMEOUT (600 s), CATCH_UP_TIMEOUT (600 s).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-100000}
build=${NEW_BUILD:-$root/build/bench}
src=${NEW_SRC:-$root}
log_lag=${LOG_LAG:-$root/build/bench/bench/log_lag}
[ -x "$log_lag" ] || { echo "missing $log_lag: cmake --build $root/build/bench --target log_lag" >&2; exit 1; }
out=${OUT:-$root/build/bench/out/catch_up}
work=$out/run-$(date +%s)
# shellcheck source=bench/stack_lib.sh
. "$root/bench/stack_lib.sh"
trap stack_stop_all EXIT
trap 'exit 130' INT TERM

stack_start "$build" "$src" "$work"
eval "$(stack_setup 400 5)"  # 5 open orders: the API has a log position
head0=$("$log_lag" --mode head --broker "$STACK_URI" | awk '/^HEAD/ {print $2}')
"$log_lag" --mode wait --db "$work/api.db" --target-pos "$head0" --timeout 30 >/dev/null ||
    { echo "the API did not reach the head $head0 before the test" >&2; exit 1; }
echo "== the API is at the head ($head0); stopping it"
stack_stop_api
echo "== driving the scheduler $n positions on"
"$log_lag" --mode drive --broker "$STACK_URI" --positions "$n" --first-car "$FIRST_CAR" --cars "$CARS" \
    --window 20 --max-inflight 200 --timeout "${DRIVE_TIMEOUT:-600}" | tee "$work/drive.txt"
head1=$(awk '/^HEAD/ {print $2}' "$work/drive.txt")
[ -n "$head1" ] || { echo "no head after driving" >&2; exit 1; }
journal_mb=$(du -m "$work/scheduler.journal" | cut -f1)
echo "== restarting the API with a new MQTT client id; it must catch up $((head1 - head0)) positions (scheduler journal ${journal_mb} MB)"
start_ms=$(date +%s%3N)
# The waiter polls from before the start, so that the time does not depend on when the
# API's port file appears.
"$log_lag" --mode wait --db "$work/api.db" --target-pos "$head1" --start-wall-ms "$start_ms" \
    --timeout "${CATCH_UP_TIMEOUT:-600}" >"$work/wait.txt" &
waiter=$!
STACK_PIDS+=("$waiter")
stack_start_api "$build" "$work" --client-id "station-api-catchup-$start_ms"
wait "$waiter" || { cat "$work/wait.txt"; echo "the API did not catch up" >&2; exit 1; }
stack_forget_pid "$waiter"
cat "$work/wait.txt"
secs=$(awk -F'seconds=' '/^RESULT/ {split($2, a, " "); print a[1]}' "$work/wait.txt")
# What the API logged after its restart: one line per catch-up page, "caught up N changes"
# (N = orders as they stand now + bills: an order changed several times comes once).
read -r pages items < <(awk '/listening on/ {starts++} starts >= 2 && /caught up [0-9]+ changes/ {
    for (i = 1; i < NF; i++) if ($i == "up") {pages++; items += $(i + 1)}} END {print pages + 0, items + 0}' "$work/api.log")
positions=$((head1 - head0))
echo
echo "catch-up: $positions positions ($head0 -> $head1) in ${secs} s from the API's start:" \
     "$(awk -v n="$positions" -v s="$secs" 'BEGIN {printf "%.0f", n / s}') positions/s;" \
     "the API fetched $items items (orders + bills) in $pages pages:" \
     "$(awk -v n="$items" -v s="$secs" 'BEGIN {printf "%.0f", n / s}') items/s"
echo "logs: $work/{api,scheduler}.log"
