#!/usr/bin/env bash
# The test command (README): installs dependencies, then builds and runs the whole suite
# twice — an optimised build (where the API's tests also run on PostgreSQL, on a server the
# suite starts itself) and an AddressSanitizer + UndefinedBehaviorSanitizer build —
# then the tests that exercise threads (the API's units, its HTTP front and server, the
# bus, the OCPP gateway) in a ThreadSanitizer build, and every fuzz target (tests/fuzz)
# for a bounded time.
#   deploy/test.sh            all four
#   deploy/test.sh --quick    the optimised build only
# FUZZ_SECONDS sets each fuzz target's time (default 30 s; tests/fuzz/run_fuzzers.sh runs
# them two at a time on two cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/deploy/install-deps.sh"

jobs=$(nproc 2>/dev/null || echo 2)
run_suite() {
    local dir=$1
    shift
    cmake -S "$root" -B "$dir" -G Ninja "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
    (cd "$dir" && ctest --output-on-failure -j "$jobs")
}

echo "== optimised build (build/release)"
run_suite "$root/build/release" -DCMAKE_BUILD_TYPE=Release
if [ "${1:-}" = "--quick" ]; then
    exit 0
fi

echo "== sanitizer build: ASan + UBSan (build/asan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_suite "$root/build/asan" -DCMAKE_BUILD_TYPE=Debug -DSTATION_SANITIZE=ON \
    -DSTATION_BUILD_BENCH=OFF -DSTATION_TEST_POSTGRES=OFF

# ThreadSanitizer: only the executables of the threaded tests (and the services they
# start) are built. Under TSan everything runs 5-15 times slower, so a test bound by a
# deadline (a broker restart, a 504 after the scheduler's timeout) gets a second attempt;
# the same tests ran without one in the two builds above, and any ThreadSanitizer report,
# from either attempt, still fails the step. Every process, the services included, writes its reports to one
# folder; any report fails the step. tests/tsan.supp names third-party frames only.
echo "== ThreadSanitizer build: the threaded tests (build/tsan)"
tsan=$root/build/tsan
tsan_tests='^(api unit|api front|http|bus|gateway|gateway unit):'
cmake -S "$root" -B "$tsan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTATION_TSAN=ON \
    -DSTATION_BUILD_BENCH=OFF -DSTATION_TEST_POSTGRES=OFF >/dev/null
cmake --build "$tsan" -j "$jobs" --target api_unit_tests api_use_case_tests api_front_tests \
    api_http_tests bus_tests gateway_unit_tests gateway_e2e_tests gateway_dialect_e2e_tests
rm -rf "$tsan/tsan-reports"
mkdir -p "$tsan/tsan-reports"
tsan_rc=0
(cd "$tsan" &&
    TSAN_OPTIONS="suppressions=$root/tests/tsan.supp log_path=$tsan/tsan-reports/report history_size=4 second_deadlock_stack=1" \
        ctest --output-on-failure -j "$jobs" -R "$tsan_tests" --repeat until-pass:2) || tsan_rc=$?
reports=("$tsan/tsan-reports"/report*)
if [ -e "${reports[0]}" ]; then
    echo "ThreadSanitizer: ${#reports[@]} process(es) reported, full reports in $tsan/tsan-reports:"
    grep -h '^SUMMARY: ThreadSanitizer' "${reports[@]}" | sort | uniq -c | sort -rn
    tsan_rc=1
fi

# The fuzzers run even when the TSan step failed, so that one finding does not hide another.
echo "== fuzzing (clang, libFuzzer + ASan + UBSan: build/fuzz)"
fuzz_rc=0
STATION_FUZZ_BUILD=$root/build/fuzz "$root/tests/fuzz/run_fuzzers.sh" "${FUZZ_SECONDS:-30}" ||
    fuzz_rc=$?
failed=()
[ "$tsan_rc" -eq 0 ] || failed+=("ThreadSanitizer")
[ "$fuzz_rc" -eq 0 ] || failed+=("fuzzing")
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
