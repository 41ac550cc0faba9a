#!/usr/bin/env bash
# The test command (README): installs dependencies, then builds and runs the whole suite
# twice — an optimised build and an AddressSanitizer + UndefinedBehaviorSanitizer build.
#   deploy/test.sh            both builds
#   deploy/test.sh --quick    the optimised build only
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
if [ "${1:-}" != "--quick" ]; then
    echo "== sanitizer build: ASan + UBSan (build/asan)"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        run_suite "$root/build/asan" -DCMAKE_BUILD_TYPE=Debug -DSTATION_SANITIZE=ON \
        -DSTATION_BUILD_BENCH=OFF
fi
