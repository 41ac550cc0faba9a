#!/usr/bin/env bash
# Builds the fuzz targets (clang, libFuzzer + ASan + UBSan: a build folder of its own) and
# runs each for a bounded time over a copy of its committed corpus, so new inputs do not
# land in the repository. Fails if any target crashes, leaks, times out or runs out of
# memory; the input that did it is kept in the run folder (printed), to be minimised and
# committed under tests/fuzz/regressions/<target>/ once fixed (README below).
#   tests/fuzz/run_fuzzers.sh [SECONDS_PER_TARGET] [TARGET...]    (default 60 s, all)
# Environment: STATION_FUZZ_BUILD (build folder, default build/fuzz), FUZZ_JOBS (targets
# run at once, default nproc), FUZZ_FLAGS (more libFuzzer flags, e.g. -max_len=8192).
#
# Reproducing and minimising a crash (the run folder is DIR/fuzz-run/TARGET):
#   DIR/tests/fuzz/fuzz_TARGET CRASH_FILE                   replays it with the stack
#   DIR/tests/fuzz/fuzz_TARGET -minimize_crash=1 -runs=100000 CRASH_FILE
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
shift || true
build=${STATION_FUZZ_BUILD:-$root/build/fuzz}
case $build in /*) ;; *) build=$root/$build ;; esac
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
all=(scenario profile bus_messages scheduler journal snapshot api_request tokens ws_protocol)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=("${all[@]}")
fi

echo "== fuzz build (clang, libFuzzer + ASan + UBSan): $build"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSTATION_FUZZ=ON -DSTATION_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target fuzzers

runs=$build/fuzz-run
rm -rf "$runs"
mkdir -p "$runs"

# Runs one target; its output goes to $runs/TARGET/log. Exit status: libFuzzer's.
run_one() {
    local t=$1
    local dir=$runs/$t
    mkdir -p "$dir/corpus" "$dir/tmp"
    cp -R "$root/tests/fuzz/corpus/$t/." "$dir/corpus/"
    local seeds=("$dir/corpus")
    if [ -d "$root/tests/fuzz/regressions/$t" ]; then
        seeds+=("$root/tests/fuzz/regressions/$t")  # read only: new inputs go to the first
    fi
    local dict=()
    if [ -f "$root/tests/fuzz/dict/$t.dict" ]; then
        dict=("-dict=$root/tests/fuzz/dict/$t.dict")
    fi
    # shellcheck disable=SC2086  # FUZZ_FLAGS is a list of flags
    TMPDIR=$dir/tmp ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/tests/fuzz/fuzz_$t" "${seeds[@]}" "${dict[@]}" -max_total_time="$seconds" \
        -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/" \
        ${FUZZ_FLAGS:-} >"$dir/log" 2>&1
}

echo "== fuzzing ${#targets[@]} targets, ${seconds} s each, $jobs at a time"
declare -A pids=()
failed=()
wait_one() {
    local done_pid t
    wait -n -p done_pid || true
    for t in "${!pids[@]}"; do
        if [ "${pids[$t]}" = "$done_pid" ]; then
            unset "pids[$t]"
            if wait "$done_pid" 2>/dev/null; then :; fi
            local rc artifacts
            rc=$(cat "$runs/$t/rc")
            # With -fork and -ignore_crashes libFuzzer exits 0 after findings: count them.
            artifacts=$(find "$runs/$t" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o \
                -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
            if [ "$rc" = 0 ] && [ "$artifacts" -gt 0 ]; then
                rc="0 with $artifacts finding(s)"
            fi
            local stats
            stats=$(grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$runs/$t/log" |
                awk '{printf "%s ", $2}' || true)
            if [ "$rc" = 0 ]; then
                echo "   $t: ok (runs, new units: $stats)"
            else
                echo "   $t: FAILED (exit $rc), log $runs/$t/log:"
                grep -E 'ERROR|WARNING|SUMMARY|runtime error|fuzz check failed|Test unit written|^    #[0-9]' \
                    "$runs/$t/log" | head -40 | sed 's/^/      /'
                find "$runs/$t" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
                    -o -name 'oom-*' \) | sed 's/^/      input: /'
                failed+=("$t")
            fi
        fi
    done
}
for t in "${targets[@]}"; do
    if [ ! -d "$root/tests/fuzz/corpus/$t" ]; then
        echo "unknown fuzz target $t (have: ${all[*]})" >&2
        exit 2
    fi
    while [ ${#pids[@]} -ge "$jobs" ]; do
        wait_one
    done
    (
        rc=0
        run_one "$t" || rc=$?
        echo "$rc" >"$runs/$t/rc"
    ) &
    pids[$t]=$!
done
while [ ${#pids[@]} -gt 0 ]; do
    wait_one
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing FAILED: ${failed[*]} (inputs and logs under $runs)"
    exit 1
fi
echo "fuzzing: all ${#targets[@]} targets ran ${seconds} s without a finding"
