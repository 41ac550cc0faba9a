#!/usr/bin/env bash
# A login flood against the REST API with the real password work (PBKDF2, 600,000
# iterations), and the station snapshot's latency meanwhile (issue #9). Starts the running
# system of a build on loopback (bench/stack_lib.sh), makes the bench user, then runs
# bench/login_flood.py with FLOOD logins in flight for SECONDS.
#   bench/login_flood.sh [FLOOD] [SECONDS]        defaults: 50 20
# Environment: NEW_BUILD (build/bench), NEW_SRC (this tree), BASE_BUILD / BASE_SRC (if
# BASE_BUILD is set, the same run against that build first), OUT (build/bench/out/login_flood).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
flood=${1:-50}
seconds=${2:-20}
new_build=${NEW_BUILD:-$root/build/bench}
new_src=${NEW_SRC:-$root}
base_build=${BASE_BUILD:-}
base_src=${BASE_SRC:-/work/base}
out=${OUT:-$root/build/bench/out/login_flood}
# shellcheck source=bench/stack_lib.sh
. "$root/bench/stack_lib.sh"
trap stack_stop_all EXIT
trap 'exit 130' INT TERM
mkdir -p "$out"
run_one() {  # NAME BUILD SRC
    echo "== $1 ($2)" >&2
    stack_start "$2" "$3" "$out/$1" --password-iterations 600000
    eval "$(stack_setup 1 0)"
    python3 "$root/bench/login_flood.py" "$STACK_API" "$ADMIN" "$flood" "$seconds"
    stack_stop_all
}
[ -z "$base_build" ] || run_one base "$base_build" "$base_src"
run_one new "$new_build" "$new_src"
