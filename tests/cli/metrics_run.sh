#!/usr/bin/env bash
# Every service's Prometheus /metrics in a running station (issue #12): deploy/run.sh with
# the build's binaries, its demo orders charged at x600 until bills are made. Checks: each
# service's endpoint is on loopback and its text passes `promtool check metrics` (lint
# warnings included); the scheduler's figures add up (every pile in one state, the demo's
# requests done); the API applied the scheduler's bills exactly: the same count and the
# same cents on both sides once the API has caught up; only /metrics is served there.
#   metrics_run.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
# shellcheck source=tests/cli/broker_lib.sh
. "$src/tests/cli/broker_lib.sh"
# shellcheck source=tests/cli/run_lib.sh
. "$src/tests/cli/run_lib.sh"
# shellcheck source=tests/cli/metrics_lib.sh
. "$src/tests/cli/metrics_lib.sh"
command -v promtool >/dev/null || { echo "FAIL: promtool is not installed (deploy/install-deps.sh)"; exit 1; }

run_start 300 admin@metrics.test metrics-admin --speed 600 --port 0 --http-port 0
for service in scheduler api; do
    url=$(sed -n "s|^$service \\(http://.*\\)$|\\1|p" "$run/metrics.urls")
    case "$url" in
        http://127.0.0.1:[0-9]*/metrics) ok "$service serves /metrics on loopback: $url" ;;
        *) fail "$service has no metrics address: '$url'"; cat "$run/$service.log" ;;
    esac
    eval "${service}_url=\$url"
done
grep -q '^Metrics: .*scheduler http://127.0.0.1' "$dir/out.txt" && ok "run.sh prints the metrics addresses" ||
    fail "run.sh does not print the metrics addresses"

# The demo's orders at x600: the first bills within seconds (30 kWh at 30 kW is 6 s).
bills=0
for _ in $(seq 150); do
    bills=$(value "$scheduler_url" evcs_scheduler_bills_total)
    [ "${bills%.*}" -ge 2 ] && break
    sleep 0.2
done
[ "${bills%.*}" -ge 2 ] && ok "the scheduler counts its bills ($bills)" || fail "no bills counted: $bills"
# The API applies the same bills (its copy of the scheduler's log): same count, same cents.
api_bills=0 same=0
for _ in $(seq 100); do
    s_bills=$(value "$scheduler_url" evcs_scheduler_bills_total)
    s_cents=$(value "$scheduler_url" evcs_scheduler_billed_cents_total)
    api_bills=$(value "$api_url" evcs_api_bills_total)
    api_cents=$(value "$api_url" evcs_api_billed_cents_total)
    if [ "$s_bills" = "$api_bills" ] && [ "$s_cents" = "$api_cents" ] && [ "${s_bills%.*}" -ge 2 ]; then
        same=1
        break
    fi
    sleep 0.2
done
[ "$same" = 1 ] && ok "the API applied the scheduler's bills exactly: $api_bills bills, $api_cents cents" ||
    fail "the API's bills ($api_bills, ${api_cents:-?} cents) differ from the scheduler's ($s_bills, $s_cents cents)"
done_requests=$(value "$scheduler_url" 'evcs_scheduler_requests_total{outcome="done"}')
[ "${done_requests%.*}" -ge 6 ] && ok "the scheduler counts the demo's requests ($done_requests done)" ||
    fail "the demo's six orders are not counted as done requests: $done_requests"
piles=0
for state in OFF WORK REST FAULT; do
    n=$(value "$scheduler_url" "evcs_scheduler_piles{state=\"$state\"}")
    piles=$((piles + ${n%.*}))
done
[ "$piles" = 5 ] && ok "the profile's 5 piles are counted once each by state" || fail "piles by state add up to $piles, not 5"
position=$(value "$api_url" 'evcs_api_log_applied_position{station=""}')
[ "${position%.*}" -gt 0 ] && ok "the API reports its applied log position ($position)" ||
    fail "the API's applied position is $position"
requests=$(curl -s "$api_url" | grep -c '^evcs_api_http_requests_total{' || true)
[ "$requests" -gt 0 ] && ok "the API counts its HTTP requests ($requests series)" || fail "no HTTP request series"
if curl -s "$api_url" | grep '^evcs_api_http_requests_total{' | grep -q 'route="[^"]*[0-9]\{6,\}'; then
    fail "a route label holds an id (unbounded label values)"
else
    ok "route labels are templates, not ids"
fi

# promtool: the text as Prometheus reads it, lint included.
for service in scheduler api; do
    eval "url=\$${service}_url"
    curl -s "$url" >"$dir/$service.metrics"
    if out=$(promtool check metrics <"$dir/$service.metrics" 2>&1) && [ -z "$out" ]; then
        ok "promtool check metrics: $service's $(grep -c '^# TYPE' "$dir/$service.metrics") families pass"
    else
        fail "promtool check metrics on $service: $out"
    fi
done
code=$(curl -s -o /dev/null -w '%{http_code}' "${scheduler_url%/metrics}/admin")
[ "$code" = 404 ] && ok "the metrics address serves nothing but /metrics (404)" || fail "/admin on the metrics address: $code"

run_stop
if [ "$fails" != 0 ]; then
    cat "$dir/out.txt" "$dir/err.txt" "$run/scheduler.log" "$run/api.log"
    exit 1
fi
echo "all metrics checks passed"
