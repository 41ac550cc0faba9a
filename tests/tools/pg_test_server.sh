#!/usr/bin/env bash
# A PostgreSQL server of the tests' own, on a free loopback port, in a folder of its own.
#   pg_test_server.sh start DIR   initdb + start; writes DIR/uri (the maintenance database's
#                                 URI, with a generated password) and prints it
#   pg_test_server.sh stop DIR    stops it and removes DIR
# Debian's PostgreSQL 15 server (postgresql-15). Run as root, the server runs as the
# postgres user (initdb refuses root). fsync is off: these databases are thrown away, and
# the store's durability rests on PostgreSQL's, which is not under test here. PG_FSYNC=on
# keeps it on (the benchmarks, which compare with SQLite's synchronous=FULL).
set -euo pipefail
action=${1:?usage: pg_test_server.sh start|stop DIR}
dir=${2:?usage: pg_test_server.sh start|stop DIR}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "pg_test_server: no PostgreSQL server (install postgresql-15)" >&2
    exit 1
fi
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
    as_owner=(runuser -u postgres --)
fi

case $action in
start)
    rm -rf "$dir"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    password=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '%s\n' "$password" > "$dir/password"
    if [ ${#as_owner[@]} -gt 0 ]; then
        chown postgres "$dir" "$dir/password"
    fi
    "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 \
        --auth=scram-sha-256 --pwfile="$dir/password" --no-sync > "$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    port=$(python3 "$(dirname "$0")/free_port.py")
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-off} -c max_connections=400" \
        start > /dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
    uri="postgresql://postgres:$password@127.0.0.1:$port/postgres"
    printf '%s\n' "$uri" > "$dir/uri"
    echo "$uri"
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop > /dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: pg_test_server.sh start|stop DIR" >&2
    exit 2
    ;;
esac
