#!/usr/bin/env bash
# The REST API on SQLite and on PostgreSQL, in one run (issue #12): bench/api_bench.sh twice
# on the same build, once with the embedded SQLite file and once with a PostgreSQL 15
# server of its own on loopback (fsync on, as SQLite's synchronous=FULL), one after the
# other, then the requests per second of each side by side.
#   BUILD=build/dev bench/api_store_compare.sh [SECONDS] [CONNECTIONS]   (10 s, 64)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-10}
conns=${2:-64}
out=$root/bench/out/store-compare
rm -rf "$out" && mkdir -p "$out"
pg=$out/pg
cleanup() { "$root/tests/tools/pg_test_server.sh" stop "$pg" >/dev/null 2>&1 || true; }
trap cleanup EXIT
server=$(PG_FSYNC=on "$root/tests/tools/pg_test_server.sh" start "$pg")
psql "$server" -qc "CREATE DATABASE bench" >/dev/null
db=${server%/postgres}/bench

BENCH_OUT=$out/sqlite "$root/bench/api_bench.sh" "$seconds" "$conns" | tee "$out/sqlite.txt"
BENCH_OUT=$out/postgresql API_DB=$db "$root/bench/api_bench.sh" "$seconds" "$conns" |
    tee "$out/postgresql.txt"

python3 - "$out/sqlite.txt" "$out/postgresql.txt" <<'PY'
import re, sys
def rates(path):
    out, name = {}, None
    for line in open(path):
        if line.startswith("== ") and "connections" in line:
            name = line[3:].split(" (")[0]
        m = re.search(r"Requests/sec:\s+([\d.]+)", line)
        if m and name:
            out[name] = float(m.group(1))
        m = re.search(r"^\s+99%\s+(\S+)", line)
        if m and name:
            out[name + " p99"] = m.group(1)
    return out
s, p = rates(sys.argv[1]), rates(sys.argv[2])
print("\n| request | SQLite req/s | PostgreSQL req/s | PostgreSQL / SQLite | p99 SQLite | p99 PostgreSQL |")
print("|---|---|---|---|---|---|")
for name in s:
    if name.endswith(" p99"):
        continue
    print(f"| {name} | {s[name]:.0f} | {p.get(name, 0):.0f} | {p.get(name, 0) / s[name]:.2f} | "
          f"{s.get(name + ' p99', '?')} | {p.get(name + ' p99', '?')} |")
PY
