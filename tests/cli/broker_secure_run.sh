#!/usr/bin/env bash
# deploy/run.sh --secure (security issue #9) with the binaries of a build: the station runs
# on broker/prod.conf with passwords generated for the run. Checks: a REST request goes
# through the scheduler and every simulated pile comes online (each service and pile
# logged in with its account); the password file is 0600 and holds no plain password;
# the database files are 0600; anonymous clients and wrong passwords are refused; the
# monitor account (password printed by run.sh) reads the bus but cannot send requests.
#   broker_secure_run.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
# shellcheck source=tests/cli/broker_lib.sh
. "$src/tests/cli/broker_lib.sh"
# shellcheck source=tests/cli/run_lib.sh
. "$src/tests/cli/run_lib.sh"

run_start 150 admin@secure.test secure-admin --secure --no-demo --port 0 --http-port 0
broker_port=$(cat "$run/broker/broker.port")
monitor_password=$(sed -n "s/.* -u monitor -P '\([^']*\)'.*/\1/p" "$dir/out.txt")

token=$(admin_token admin@secure.test secure-admin)
answer=""
for _ in $(seq 1 50); do  # until the services are connected and subscribed
    answer=$(curl -s "$api/admin/sim/clock" -H "token: $token")
    case "$answer" in *'"code":0'*) break ;; esac
    sleep 0.2
done
case "$answer" in
    *'"simulated":true'*) ok "a REST request goes through the scheduler on the secure broker" ;;
    *) fail "a REST request did not go through: $answer" ;;
esac
for pile in F1 F2 T1 T2 T3; do  # the piles of bupt-2023, run.sh's default profile
    if state=$(pile_comes_online "$token" "$pile" 50); then
        ok "pile $pile logs in with its account and comes online"
    else
        fail "pile $pile did not come online: $state"
    fi
done

mode=$(stat -c %a "$run/broker.passwd")
[ "$mode" = 600 ] && ok "the password file is 0600" || fail "the password file is $mode"
if grep -qF "$monitor_password" "$run/broker.passwd" || grep -qv '^[^:]*:\$7\$' "$run/broker.passwd"; then
    fail "the password file holds a plain password"
else
    ok "the password file holds only hashes"
fi
for f in station.db station.db-wal station.db-shm; do
    mode=$(stat -c %a "$run/$f")
    [ "$mode" = 600 ] && ok "$f is 0600" || fail "$f is $mode"
done

if mosquitto_pub -h 127.0.0.1 -p "$broker_port" -t evcs/v1/piles/F1/status -m x 2>/dev/null; then
    fail "an anonymous client was accepted"
else
    ok "anonymous clients are refused"
fi
if mosquitto_pub -h 127.0.0.1 -p "$broker_port" -u scheduler -P wrong -t evcs/v1/piles/F1/commands -m x 2>/dev/null; then
    fail "a wrong password was accepted"
else
    ok "a wrong password is refused"
fi
if mosquitto_sub -h 127.0.0.1 -p "$broker_port" -u monitor -P "$monitor_password" -t evcs/v1/station/state \
    -C 1 -W 5 | grep -q '"piles"'; then
    ok "the monitor reads the station state with the printed password"
else
    fail "the monitor could not read the station state"
fi
# A request from the monitor would be answered on its replies topic: it must not be taken.
# (mosquitto_rr subscribes and publishes on one connection: the monitor account holds one.)
if mosquitto_rr -h 127.0.0.1 -p "$broker_port" -u monitor -P "$monitor_password" -q 1 -W 3 \
    -t evcs/v1/scheduler/requests -e evcs/v1/replies/monitor \
    -m '{"id":"m1","reply_to":"evcs/v1/replies/monitor","op":"state"}' >"$dir/monitor-reply" 2>/dev/null &&
    [ -s "$dir/monitor-reply" ]; then
    fail "the monitor's request was answered"
else
    ok "the monitor cannot send requests"
fi

run_stop

if [ "$fails" != 0 ]; then
    cat "$dir/out.txt" "$dir/err.txt" "$run/scheduler.log" "$run/api.log" "$run/broker/broker.log"
    exit 1
fi
echo "all secure run checks passed"
