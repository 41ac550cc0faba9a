#!/usr/bin/env bash
# Scheduler restart time after N journaled commands, the build this tree starts from (a
# full replay of the journal) and this build (its snapshot and the lines after it), side by
# side on the same journal. Prints "station ready in" of each start.
#   bench/restart_bench.sh NEW_BUILD_DIR BASE_BUILD_DIR [N ...]    (default N: 1000000 10000000)
# The journal is made by bench/make_journal.py: per order a submit, a change and a cancel,
# pile faults and recoveries and clock steps, ten lines an order, on the bupt-2023 profile.
# JOURNALS=DIR keeps the made journals there (journal-N) and reuses them on the next run
# (making ten million lines takes about two minutes). ORDERS=K makes every journal with K
# orders only, the rest of its lines faults, recoveries and clock steps (make_journal.py):
# a longer history over the same station.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
new=$(cd "$1" && pwd)
base=$(cd "$2" && pwd)
shift 2
counts=("${@:-1000000 10000000}")
[ $# -eq 0 ] && counts=(1000000 10000000)
work=$(mktemp -d /tmp/restart-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Starts BINARY on JOURNAL (a dead broker: nothing else runs) and waits until its log shows
# PATTERN; prints the wall ms from the launch and keeps the log in $work/last.log.
timed_start() {
    local log=$work/last.log
    : >"$log"
    local t0 t1 pid
    t0=$(date +%s%N)
    "$1" --broker tcp://127.0.0.1:1 --profile bupt-2023 --sim-start "2026-11-25 06:00:00" \
        --sim-speed 0 --journal "$2" >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 60000); do
        grep -Eq "$3|cannot" "$log" && break
        sleep 0.005
    done
    t1=$(date +%s%N)
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo $(((t1 - t0) / 1000000))
}
printf '%-10s %-34s %s\n' commands "build, start" "wall ms to ready"
for n in "${counts[@]}"; do
    if [ -n "${JOURNALS:-}" ]; then
        mkdir -p "$JOURNALS"
        [ -s "$JOURNALS/journal-$n${ORDERS:+-$ORDERS}" ] ||
            python3 "$root/bench/make_journal.py" "$n" ${ORDERS:+"$ORDERS"} \
                >"$JOURNALS/journal-$n${ORDERS:+-$ORDERS}"
        cp "$JOURNALS/journal-$n${ORDERS:+-$ORDERS}" "$work/journal"
    else
        python3 "$root/bench/make_journal.py" "$n" ${ORDERS:+"$ORDERS"} >"$work/journal"
    fi
    cp "$work/journal" "$work/base.journal"
    ms=$(timed_start "$base/scheduler/service/station-scheduler" "$work/base.journal" "resumed run")
    printf '%-10s %-34s %s\n' "$n" "base (full replay)" "$ms"
    # The first start replays it all, then takes its snapshot and compacts the journal.
    timed_start "$new/scheduler/service/station-scheduler" "$work/journal" "snapshot at journal line" >/dev/null
    printf '%-10s %-34s %s\n' "$n" "new, first start (full replay)" \
        "$(grep -m1 -o "station ready in [0-9]* ms" "$work/last.log")"
    grep -m1 -o "snapshot at journal line.*" "$work/last.log" | sed 's/^/    /'
    ls -l "$work"/journal* | awk '{print "    " $5 " bytes " $9}'
    ms=$(timed_start "$new/scheduler/service/station-scheduler" "$work/journal" "resumed run")
    printf '%-10s %-34s %s\n' "$n" "new, restart (snapshot + tail)" "$ms"
    grep -m1 -o "resumed run.*" "$work/last.log" | sed 's/^/    /'
    rm -f "$work"/journal* "$work"/base.journal
done
