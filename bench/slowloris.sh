#!/usr/bin/env bash
# Slow and idle clients (slowloris) against the REST API, and a normal client's latency
# meanwhile (issue #9). Starts the running system of a build on loopback the way
# bench/api_pairs_compare.sh does (bench/stack_lib.sh: broker of that source tree, scheduler
# with the stopped simulated clock and its journal, pile simulator, station-api with 128
# threads and a fresh SQLite file), makes a user with one car, then runs bench/slowloris.py:
# SLOW connections (30% idle, 30% trickling a body, 40% trickling a head, one byte every 4 s;
# reopened when the server closes them) while another client sends GET
# /client/index/information (token, the user's balance and cars from SQLite), alternating a
# fresh and a kept-alive connection, for SECONDS; prints p50/p90/p99 and how many were
# answered within 5 s.
#
#   bench/slowloris.sh [SLOW] [SECONDS]          defaults: 1000 30
#
# Environment: NEW_BUILD (build/bench of this tree), NEW_SRC (this tree), NEW_API_ARGS
# (default "--max-connections-per-address 4096": every slow connection comes from
# 127.0.0.1, so the per-address cap must not be what protects the server here; set it to ""
# to measure with the default cap of 256), BASE_BUILD / BASE_SRC (if BASE_BUILD is set, the
# same run against that build first, e.g. the POCO HTTPServer one: /work/base/build and
# /work/base), OUT (build/bench/out/slowloris). The descriptor limit is raised to fit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
slow=${1:-1000}
seconds=${2:-30}
new_build=${NEW_BUILD:-$root/build/bench}
new_src=${NEW_SRC:-$root}
if [ "${NEW_API_ARGS+set}" = set ]; then
    new_args=$NEW_API_ARGS
else
    new_args="--max-connections-per-address 4096"
fi
base_build=${BASE_BUILD:-}
base_src=${BASE_SRC:-/work/base}
out=${OUT:-$root/build/bench/out/slowloris}
# shellcheck source=bench/stack_lib.sh
. "$root/bench/stack_lib.sh"
need=$((slow + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
fi
echo "descriptor limit: $(ulimit -n)" >&2
[ -z "$base_build" ] || stack_check_build "$base_build" "$base_src"
stack_check_build "$new_build" "$new_src"
trap stack_stop_all EXIT
trap 'exit 130' INT TERM
mkdir -p "$out"

run_one() {  # NAME BUILD SRC [API_ARGS...]
    local name=$1 build=$2 src=$3
    shift 3
    local work=$out/$name
    echo "== $name ($build) $*" >&2
    stack_start "$build" "$src" "$work" "$@"
    local setup
    setup=$(stack_setup 1 0)
    eval "$setup"
    python3 "$root/bench/slowloris.py" --port "${STACK_API##*:}" --slow "$slow" \
        --seconds "$seconds" --interval 4 --path /client/index/information \
        --token "$USER_TOKEN" --timeout 5 | tee "$work/slowloris.txt"
    stack_stop_all
}

if [ -n "$base_build" ]; then
    run_one base "$base_build" "$base_src"
    echo
fi
# shellcheck disable=SC2086
run_one new "$new_build" "$new_src" $new_args
echo
echo "logs and results: $out/{base,new}/"
