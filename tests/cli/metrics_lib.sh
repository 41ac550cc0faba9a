# Helpers of the tests that read the services' Prometheus metrics or run a station at the
# edge (tests/cli/*.sh), sourced after `set -euo pipefail` and tests/cli/broker_lib.sh.

# metrics_url LOG: the /metrics address a service's log names, the latest one if the log
# holds several (a restarted service appends to it); waits up to 10 s for one.
metrics_url() {
    local url
    for _ in $(seq 100); do
        url=$(sed -n 's|.* info: metrics on \(http://[^ ]*\)$|\1|p' "$1" | tail -n 1)
        [ -n "$url" ] && { echo "$url"; return 0; }
        sleep 0.1
    done
    return 1
}

# value URL SERIES: the sample's value in a scrape of URL (0 when absent); SERIES is the
# name with its labels as exposed, e.g. 'evcs_scheduler_piles{state="REST"}'.
value() {
    curl -s "$1" | awk -v s="$2" '$1 == s { v = $2 } END { print (v == "" ? 0 : v) }'
}

# edge_station PORT [TAG]: a station on the broker at 127.0.0.1:PORT, as the edge tests run
# it: the scheduler (simulated clock x600, a journal, metrics on a free port) and the
# profile's simulated piles, logs in $dir (scheduler$TAG.log, pile-sim$TAG.log); their
# PIDs are added to `pids`.
edge_station() {
    local tag=${2:-}
    "$build/scheduler/service/station-scheduler" --broker "tcp://127.0.0.1:$1" \
        --sim-start "$(date +%F) 06:00:00" --sim-speed 600 --journal "$dir/scheduler$tag.journal" \
        --metrics 127.0.0.1:0 2>"$dir/scheduler$tag.log" &
    pids+=($!)
    "$build/pile-sim/station-pile-sim" --broker "tcp://127.0.0.1:$1" 2>"$dir/pile-sim$tag.log" &
    pids+=($!)
}

# bills_on_while_cut SCHEDULER_METRICS BEFORE: waits (up to 30 s) for the station to make a
# bill after the link was cut with BEFORE bills, and checks it did.
bills_on_while_cut() {
    local during
    for _ in $(seq 150); do
        [ "$(value "$1" evcs_scheduler_bills_total | cut -d. -f1)" -gt "${2%.*}" ] && break
        sleep 0.2
    done
    during=$(value "$1" evcs_scheduler_bills_total)
    [ "${during%.*}" -gt "${2%.*}" ] &&
        ok "cut off, the station goes on billing ($2 -> $during bills)" ||
        fail "the station made no bill while cut off ($2)"
}
