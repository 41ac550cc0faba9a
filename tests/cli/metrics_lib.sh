# Helpers of the tests that read the services' Prometheus metrics (tests/cli/*.sh), sourced
# after `set -euo pipefail`.

# metrics_url LOG: the /metrics address a service's log names (waits up to 10 s for it).
metrics_url() {
    local url
    for _ in $(seq 100); do
        url=$(sed -n 's|.* info: metrics on \(http://[^ ]*\)$|\1|p' "$1" | head -n 1)
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
