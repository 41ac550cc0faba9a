#!/usr/bin/env bash
# Runs one browser test case of the web console (web_test.mjs) against this build's
# binaries. The scripts are copied into WORK_DIR, where npm installs playwright-core as the
# committed lock file pins it (once; node_modules never goes into the sources). Exits 77
# (reported as skipped) when node, npm or chromium is missing. CASE "bench" runs bench.mjs.
#   run.sh SOURCE_DIR WORK_DIR CASE SCHEDULER PILE_SIM API
set -euo pipefail
src=$1 work=$2 case=$3 scheduler=$4 pile_sim=$5 api=$6
repo=$(cd "$src/../.." && pwd)
chromium=${STATION_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
for tool in node npm; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIPPED: $tool is not installed (deploy/install-deps.sh installs nodejs and npm)"
        exit 77
    fi
done
if [ -z "$chromium" ]; then
    echo "SKIPPED: chromium is not installed (apt-get install -y chromium fonts-wqy-microhei)"
    exit 77
fi
mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src"/*.mjs "$work/"
# One install at a time: the cases run in parallel under ctest -j.
(
    flock 9
    if [ ! -f "$work/node_modules/playwright-core/package.json" ] ||
        ! cmp -s "$src/package-lock.json" "$work/node_modules/.station-lock"; then
        (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
        cp "$src/package-lock.json" "$work/node_modules/.station-lock"
    fi
) 9>"$work/.install.lock"
script=web_test.mjs
[ "$case" = bench ] && script=bench.mjs  # the numbers of docs/benchmarks.md
exec node "$work/$script" "$case" --scheduler "$scheduler" --pile-sim "$pile_sim" --api "$api" \
    --repo "$repo" --out "$work/artifacts" --chromium "$chromium"
