#!/usr/bin/env bash
# The broker's limits (security issue #9), on broker/prod.conf and on broker/dev.conf:
# each listens on its loopback port and nowhere else; a 10 MB publication (a pile's
# retained status) disconnects its sender and reaches no one, nor is it kept; a 4 MB one,
# above the largest legitimate message (the scheduler's answer to a catch-up request of
# 5,000 changes: ~1.3 MB, ~3 MB with the longest car ids), passes whole.
#   broker_limits.sh SOURCE_DIR
set -euo pipefail
src=$1
dir=$(mktemp -d)
chmod 711 "$dir"  # mosquitto, dropping root, reaches its files in here
cleanup() {
    for d in "$dir"/prod "$dir"/dev; do
        stop_broker "$d/broker"
    done
    rm -rf "$dir"
}
trap cleanup EXIT
# shellcheck source=tests/cli/broker_lib.sh
. "$src/tests/cli/broker_lib.sh"

python3 -c 'import sys; sys.stdout.write("x" * (10 * 1000 * 1000))' >"$dir/10MB"
python3 -c 'import sys; sys.stdout.write("{" + "y" * (4 * 1000 * 1000 - 2) + "}")' >"$dir/4MB"

# limits CONF PILE SCHEDULER MONITOR API: the checks on one broker, with its users for each
# role ("-": anonymous).
limits() {
    local conf=$1 pile=$2 scheduler=$3 monitor=$4 api=$5 got
    local sockets
    sockets=$(listening "$broker_pid" | sort -u | tr '\n' ' ')
    if [ "$sockets" = "127.0.0.1:$broker_port " ]; then
        ok "$conf: the broker listens on 127.0.0.1:$broker_port only"
    else
        fail "$conf: the broker listens on: $sockets(expected 127.0.0.1:$broker_port only)"
    fi

    # shellcheck disable=SC2046
    mosquitto_sub $(as "$monitor" -t evcs/v1/piles/F1/status) -C 1 -W 3 >"$dir/$conf.live" 2>/dev/null &
    local waiter=$!
    sleep 0.3
    # shellcheck disable=SC2046
    if mosquitto_pub $(as "$pile" -r -t evcs/v1/piles/F1/status -f "$dir/10MB") 2>/dev/null; then
        fail "$conf: a 10 MB retained publication was taken"
    else
        ok "$conf: a 10 MB retained publication disconnects its sender"
    fi
    wait "$waiter" 2>/dev/null || true
    got=$(wc -c <"$dir/$conf.live")
    [ "$got" = 0 ] && ok "$conf: ... and reaches no subscriber" ||
        fail "$conf: a subscriber got $got bytes of the 10 MB publication"
    # shellcheck disable=SC2046
    mosquitto_sub $(as "$monitor" -t evcs/v1/piles/F1/status) -C 1 -W 1 >"$dir/$conf.retained" 2>/dev/null || true
    got=$(wc -c <"$dir/$conf.retained")
    [ "$got" = 0 ] && ok "$conf: ... and is not retained" ||
        fail "$conf: a new subscriber got $got retained bytes"
    grep -q "disconnected due to oversize packet" "$dir/$conf/broker/broker.log" &&
        ok "$conf: ... and the broker says why" ||
        fail "$conf: the broker log does not say 'disconnected due to oversize packet'"

    # shellcheck disable=SC2046
    mosquitto_sub $(as "$api" -t evcs/v1/replies/station-api) -C 1 -W 5 -N >"$dir/$conf.reply" 2>/dev/null &
    waiter=$!
    sleep 0.3
    # shellcheck disable=SC2046
    mosquitto_pub $(as "$scheduler" -t evcs/v1/replies/station-api -f "$dir/4MB") ||
        fail "$conf: the scheduler could not publish a 4 MB reply"
    wait "$waiter" 2>/dev/null || true
    if cmp -s "$dir/4MB" "$dir/$conf.reply"; then
        ok "$conf: a 4 MB reply reaches the API whole"
    else
        fail "$conf: a 4 MB reply did not reach the API whole ($(wc -c <"$dir/$conf.reply") bytes)"
    fi
}

broker_prod "$dir/prod" scheduler monitor api F1
limits prod F1 scheduler monitor api
broker_dev "$dir/dev"
limits dev - - - -

if [ "$fails" != 0 ]; then
    cat "$dir/prod/broker/broker.log" "$dir/dev/broker/broker.log"
    exit 1
fi
echo "all limit checks passed"
