#!/usr/bin/env bash
# What a Prometheus scrape costs: the station run by deploy/run.sh (the build's binaries,
# its demo orders charging at x600), each service's /metrics fetched N times, a connection
# each (the endpoint does not keep connections alive). Prints per service the text's size, its
# series, and the scrape's latency (p50, p99, max), and the services' CPU time spent
# meanwhile (from /proc, scrapes included).
#   bench/metrics_scrape.sh [BUILD_DIR] [N]      defaults: build/release, 1000
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build/release}" && pwd)
n=${2:-1000}
work=$(mktemp -d)
trap 'kill "$run_pid" 2>/dev/null; wait "$run_pid" 2>/dev/null; rm -rf "$work"' EXIT
STATION_BIN_DIR=$build STATION_RUN_DIR=$work/run STATION_ADMIN_PASSWORD=bench-admin \
    "$root/deploy/run.sh" --speed 600 --port 0 --http-port 0 >"$work/out.txt" 2>"$work/err.txt" &
run_pid=$!
for _ in $(seq 300); do grep -q '^Ctrl-C stops everything' "$work/out.txt" && break; sleep 0.1; done
sleep 3  # the demo's orders are in and charging
python3 - "$work/run/metrics.urls" "$n" "$work/run/pids" <<'PY'
import http.client, os, sys, time, urllib.parse
urls = [l.split() for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
tick = os.sysconf("SC_CLK_TCK")
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
def pid_of(name):
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if name in open(f"/proc/{p}/cmdline").read():
                    return int(p)
            except OSError:
                pass
for service, url in urls:
    u = urllib.parse.urlparse(url)
    pid = pid_of(f"station-{service}")
    before = cpu(pid)
    times, size, series = [], 0, 0
    for _ in range(n):
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(u.hostname, u.port)
        conn.request("GET", u.path)
        body = conn.getresponse().read()
        conn.close()
        times.append(time.perf_counter() - t0)
    size = len(body)
    series = sum(1 for l in body.decode().splitlines() if l and not l.startswith("#"))
    used = cpu(pid) - before
    times.sort()
    pct = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000
    print(f"{service:9s} {size:7d} bytes {series:4d} series  scrape p50 {pct(0.5):.2f} ms  "
          f"p99 {pct(0.99):.2f} ms  max {times[-1] * 1000:.2f} ms  "
          f"CPU {used / n * 1000:.2f} ms/scrape (the service's whole CPU over {n} scrapes)")
PY
