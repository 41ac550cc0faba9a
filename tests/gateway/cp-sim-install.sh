#!/usr/bin/env bash
# Installs the OCPP charge point simulator (tests/gateway/cp-sim, npm ocpp-rpc pinned by
# the committed lock file) into WORK_DIR, once; node_modules never goes into the sources.
#   cp-sim-install.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src=$1 work=$2
mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src/cp-sim.js" "$src/raw-call.js" "$work/"
if [ ! -d "$work/node_modules/ocpp-rpc" ]; then
    (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
fi
