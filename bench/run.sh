#!/usr/bin/env bash
# The replay benchmark of issue #2: generates a station of PILES piles and EVENTS events,
# replays it with `station-replay --final-only`, and reports events/s and peak memory.
#   bench/run.sh [EVENTS] [PILES...]        defaults: 1000000 events, 1000 piles
# Several PILES values show how the cost per event grows with the station's size.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
events=${1:-1000000}
shift || true
piles=("$@")
[ ${#piles[@]} -gt 0 ] || piles=(1000)

command -v /usr/bin/time >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time
}
cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build/release" --target station-replay gen_station >/dev/null
replay=$root/build/release/scheduler/replay/station-replay
out=$root/bench/out
mkdir -p "$out"

printf '%-7s %-9s %-9s %-12s %-10s %-9s\n' piles events wall_s events/s peak_MB out_MB
for n in "${piles[@]}"; do
    dir=$out/p$n
    mkdir -p "$dir"
    "$root/build/release/bench/gen_station" --piles "$n" --events "$events" "$dir" 2>/dev/null
    best=""
    for run in 1 2 3; do
        /usr/bin/time -f "%e %M" -o "$dir/time.txt" \
            "$replay" --profile "$dir/profile.json" --final-only "$dir/scenario.txt" \
            >"$dir/final.json" 2>"$dir/stderr.txt"
        read -r wall rss_kb <"$dir/time.txt"
        if [ -z "$best" ] || awk "BEGIN{exit !($wall < ${best%% *})}"; then
            best="$wall $rss_kb"
        fi
    done
    read -r wall rss_kb <<<"$best"
    awk -v n="$n" -v e="$events" -v w="$wall" -v r="$rss_kb" -v o="$(stat -c %s "$dir/final.json")" \
        'BEGIN { printf "%-7d %-9d %-9.2f %-12.0f %-10.1f %-9.1f\n", n, e, w, e / w, r / 1024, o / 1048576 }'
done
