#!/usr/bin/env bash
# The run command (README). Until the MQTT services exist (issues #3 and #4) the
# "system" is the station core driven by station-replay: this builds it and plays the
# published 42-event acceptance case, showing the station after every event.
#   deploy/run.sh [SCENARIO] [station-replay options...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/deploy/install-deps.sh" >&2
cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
cmake --build "$root/build/release" -j "$(nproc 2>/dev/null || echo 2)" --target station-replay >&2
scenario=${1:-$root/../shared/acceptance/case42.txt}
shift || true
if [ $# -eq 0 ]; then
    set -- --profile acceptance-42 --table
fi
exec "$root/build/release/scheduler/replay/station-replay" "$@" "$scenario"
