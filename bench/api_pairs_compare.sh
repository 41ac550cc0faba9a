#!/usr/bin/env bash
# The REST order benchmark of bench/api_bench.sh (step 3: POST + DELETE
# /client/index/order as create-then-cancel pairs, bench/wrk/order_pairs.lua), run side by
# side in one run against two builds, alternating base, new, base, new, ... so that both
# see the same machine load. Each round starts a fresh system of that build on loopback
# (its own broker from its source tree, scheduler with the stopped simulated clock and its
# journal, pile simulator, station-api with 128 threads, --password-iterations 1000 and a
# fresh SQLite file), creates a user with 2,000 cars and 5 open orders, runs
# wrk -t2 -cCONNECTIONS -dSECONDSs --latency, and stops everything.
#
#   bench/api_pairs_compare.sh [SECONDS] [CONNECTIONS] [ROUNDS]    defaults: 10 64 2
#
# Environment: BASE_BUILD (/work/base/build), BASE_SRC (/work/base), NEW_BUILD
# (build/bench of this tree), NEW_SRC (this tree), OUT (build/bench/out/api_pairs),
# WRK_THREADS (2). Prints one row per run (req/s, p50, p99, orders created, cancelled,
# refused) and the mean per build; a run with refusals or errors is marked.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-10}
conns=${2:-64}
rounds=${3:-2}
threads=${WRK_THREADS:-2}
base_build=${BASE_BUILD:-/work/base/build}
base_src=${BASE_SRC:-/work/base}
new_build=${NEW_BUILD:-$root/build/bench}
new_src=${NEW_SRC:-$root}
out=${OUT:-$root/build/bench/out/api_pairs}
command -v wrk >/dev/null || { echo "wrk is not installed (deploy/install-deps.sh)" >&2; exit 1; }
# shellcheck source=bench/stack_lib.sh
. "$root/bench/stack_lib.sh"
stack_check_build "$base_build" "$base_src"
stack_check_build "$new_build" "$new_src"
trap stack_stop_all EXIT
trap 'exit 130' INT TERM
mkdir -p "$out"
results=$out/results.tsv
: >"$results"

# wrk's latency text (850.00us, 42.10ms, 1.02s, 2.00m) in ms
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.2f", n }'
}

run_one() {  # NAME BUILD SRC ROUND
    local name=$1 build=$2 src=$3 round=$4
    local work=$out/$name-$round
    echo "== round $round: $name ($build)" >&2
    stack_start "$build" "$src" "$work"
    local setup
    setup=$(stack_setup 2000 5)
    eval "$setup"
    env TOKEN="$USER_TOKEN" FIRST_CAR="$FIRST_CAR" CARS="$CARS" THREADS="$threads" \
        wrk -t"$threads" -c"$conns" -d"${seconds}s" --latency -s "$root/bench/wrk/order_pairs.lua" \
        "$STACK_API" >"$work/wrk.txt" 2>&1 || true
    stack_stop_all
    local rps p50 p99 created cancelled refused errors
    rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")")
    created=$(awk '/^thread [0-9]+:/ {gsub(",", ""); s += $4} END {print s + 0}' "$work/wrk.txt")
    cancelled=$(awk '/^thread [0-9]+:/ {gsub(",", ""); s += $6} END {print s + 0}' "$work/wrk.txt")
    refused=$(awk '/^thread [0-9]+:/ {gsub(",", ""); s += $8} END {print s + 0}' "$work/wrk.txt")
    errors=$(grep -E "Non-2xx|Socket errors" "$work/wrk.txt" | tr -s ' ' | paste -sd';' - || true)
    [ -n "$rps" ] || { echo "wrk gave no result; see $work/wrk.txt" >&2; cat "$work/wrk.txt" >&2; exit 1; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$rps" "$p50" "$p99" \
        "$created" "$cancelled" "$refused" "${errors:--}" >>"$results"
}

for round in $(seq "$rounds"); do
    run_one base "$base_build" "$base_src" "$round"
    run_one new "$new_build" "$new_src" "$round"
done

echo
echo "POST+DELETE /client/index/order pairs: wrk -t$threads -c$conns -d${seconds}s, $rounds rounds each, alternating"
echo
echo "| round | build | req/s | p50 ms | p99 ms | created | cancelled | refused | wrk errors |"
echo "|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}' "$results"
echo
echo "| build | mean req/s | mean p50 ms | mean p99 ms | runs |"
echo "|---|---|---|---|---|"
awk -F'\t' '{n[$2]++; r[$2] += $3; a[$2] += $4; b[$2] += $5}
    END {for (k in n) printf "| %s | %.0f | %.2f | %.2f | %d |\n", k, r[k] / n[k], a[k] / n[k], b[k] / n[k], n[k]}' \
    "$results" | sort
awk -F'\t' '{n[$2]++; r[$2] += $3; b[$2] += $5}
    END {if (n["base"] && n["new"]) printf "\nnew / base: req/s %.2fx, p99 %.2fx\n",
        (r["new"] / n["new"]) / (r["base"] / n["base"]), (b["new"] / n["new"]) / (b["base"] / n["base"])}' "$results"
awk -F'\t' '$8 > 0 || $9 != "-" {bad = 1} END {if (bad) print "\nNOTE: some runs had refusals or wrk errors (see the table and " FILENAME ")"}' "$results"
echo
echo "raw wrk output: $out/{base,new}-ROUND/wrk.txt; logs beside them"
