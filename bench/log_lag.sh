#!/usr/bin/env bash
# Replication lag scheduler -> REST API database (bench/log_lag.cpp) for one build.
# Starts the system of BUILD_DIR/SRC_DIR on loopback (as bench/api_bench.sh: broker of
# SRC_DIR, scheduler with the stopped simulated clock and its journal, pile simulator,
# station-api), creates a user with 400 cars and 5 open orders through REST (and, where
# the API keeps a log position, waits until it is at the scheduler's head), then runs
# log_lag: submit and cancel requests straight to the scheduler over MQTT at RATE per
# second for SECONDS, 20 more orders kept open, and the lag from each reply to the
# change in the API's SQLite file.
#
#   bench/log_lag.sh BUILD_DIR SRC_DIR [RATE] [SECONDS]        defaults: 1000 10
#   e.g. bench/log_lag.sh /work/base/build /work/base 1000 30
#        bench/log_lag.sh build/bench . 1000 30
#
# Environment: METHOD (auto: the log position where the API keeps one, else the order's
# row; `row` measures the new build the way the base is measured), POLL_US (250), WINDOW
# (20), LOG_LAG (the log_lag binary, default build/bench/bench/log_lag of this tree: it
# is a client and works against both builds), OUT (build/bench/out/log_lag).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { sed -n '2,18p' "$0" >&2; exit 2; }
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
rate=${3:-1000}
seconds=${4:-10}
log_lag=${LOG_LAG:-$root/build/bench/bench/log_lag}
[ -x "$log_lag" ] || { echo "missing $log_lag: cmake --build $root/build/bench --target log_lag" >&2; exit 1; }
out=${OUT:-$root/build/bench/out/log_lag}
work=$out/$(basename "$src")-$(date +%s)
# shellcheck source=bench/stack_lib.sh
. "$root/bench/stack_lib.sh"
trap stack_stop_all EXIT
trap 'exit 130' INT TERM

stack_start "$build" "$src" "$work"
# 5 orders through REST first (the whole path once), and where the API keeps a log
# position, wait until it is at the scheduler's head: the measurement starts in sync.
eval "$(stack_setup 400 5)"
if head=$("$log_lag" --mode head --broker "$STACK_URI" 2>/dev/null | awk '/^HEAD/ {print $2}') && [ -n "$head" ]; then
    "$log_lag" --mode wait --db "$work/api.db" --target-pos "$head" --timeout 30 >/dev/null ||
        echo "warning: the API did not reach the scheduler's head $head before the run" >&2
fi
echo "== log_lag against $build (work dir $work): ${rate}/s for ${seconds}s"
"$log_lag" --mode lag --broker "$STACK_URI" --db "$work/api.db" --rate "$rate" --seconds "$seconds" \
    --first-car "$FIRST_CAR" --cars "$CARS" --window "${WINDOW:-20}" --method "${METHOD:-auto}" \
    --poll-us "${POLL_US:-250}" --timeout 60 | tee "$work/log_lag.txt"
