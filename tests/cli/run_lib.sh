# Helpers of the tests that drive deploy/run.sh (tests/cli/*_run.sh), sourced after
# `set -euo pipefail` and tests/cli/broker_lib.sh, with `src` and `build` set. They work in
# a temporary folder `dir`, the run's folder being `run` in it.

dir=$(mktemp -d)
chmod 711 "$dir"  # mosquitto, dropping root, reaches the run's broker files in here
run=$dir/run
run_pid=""
run_cleanup() {
    if [ -n "$run_pid" ]; then
        kill "$run_pid" 2>/dev/null || true
        wait "$run_pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap run_cleanup EXIT

# run_start TENTHS ADMIN PASSWORD RUN_ARGS...: starts deploy/run.sh with the build's
# binaries and that administrator (output in $dir/out.txt and err.txt), waits up to TENTHS
# tenths of a second for it to be up, and sets `api` to its REST address. Exits if it
# does not start.
run_start() {
    local tenths=$1 admin=$2 password=$3
    shift 3
    STATION_BIN_DIR=$build STATION_RUN_DIR=$run STATION_ADMIN_ACCOUNT=$admin \
        STATION_ADMIN_PASSWORD=$password \
        "$src/deploy/run.sh" "$@" >"$dir/out.txt" 2>"$dir/err.txt" &
    run_pid=$!
    for _ in $(seq 1 "$tenths"); do
        grep -q '^Ctrl-C stops everything' "$dir/out.txt" && break
        kill -0 "$run_pid" 2>/dev/null || break
        sleep 0.1
    done
    grep -q '^Ctrl-C stops everything' "$dir/out.txt" ||
        { cat "$dir/out.txt" "$dir/err.txt"; echo "FAIL: deploy/run.sh $* did not start"; exit 1; }
    api=http://127.0.0.1:$(cat "$run/api.port")
}

# admin_token ACCOUNT PASSWORD: an administrator's token.
admin_token() {
    curl -s -X POST "$api/admin/login" -d "{\"account\":\"$1\",\"password\":\"$2\"}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])'
}

# pile_comes_online TOKEN PILE TENTHS_OF_TWO: whether the pile shows REST within
# TENTHS_OF_TWO × 0.2 s; prints its last answer.
pile_comes_online() {
    local state=""
    for _ in $(seq 1 "$3"); do
        state=$(curl -s "$api/admin/index/charge?charge_id=$2" -H "token: $1")
        case "$state" in *'"state":"REST"'*) echo "$state"; return 0 ;; esac
        sleep 0.2
    done
    echo "$state"
    return 1
}

# run_stop: stops run.sh (SIGTERM) and checks that every process it started ends.
run_stop() {
    kill -TERM "$run_pid"
    wait "$run_pid" 2>/dev/null || true
    run_pid=""
    local left=""
    for _ in $(seq 1 50); do  # the broker saves its data as it stops
        left=""
        for pid in $(cat "$run/pids"); do
            kill -0 "$pid" 2>/dev/null && left="$left $pid"
        done
        [ -z "$left" ] && break
        sleep 0.1
    done
    [ -z "$left" ] && ok "stopping run.sh stops every process" || fail "processes left: $left"
}
