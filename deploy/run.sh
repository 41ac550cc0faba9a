#!/usr/bin/env bash
# The run command (README): installs what it needs, builds, and runs the station on the
# embedded defaults — a mosquitto broker on loopback, the scheduler with a simulated clock
# (today 06:00, ten times real speed), one simulated pile per pile of the profile, and the
# REST API on 127.0.0.1:8080 — then sends a few demo requests through the API so there is
# something to watch. Ctrl-C stops it all.
#   deploy/run.sh [--secure] [--gateway] [--edge-centre] [--centre-cluster] [--stations N] [--profile NAME|FILE] [--speed X] [--port N] [--http-port N] [--no-demo]
# The first admin is STATION_ADMIN_ACCOUNT / STATION_ADMIN_PASSWORD (default
# admin@station.local and a random password, printed once).
#
# The development broker (broker/dev.conf) takes anonymous clients on loopback: anyone
# with a shell on this machine can act as the scheduler or as any pile. --secure runs the
# broker on broker/prod.conf and evcs.acl instead (still on loopback): a password per
# account, generated for this run (hashed by mosquitto_passwd into build/run/broker.passwd,
# 0600; the plain passwords are only given to the services, in their environment), each
# account limited to its topics, anonymous clients refused, client ids bound to accounts.
# Every file of a --secure run is private to its user (umask 077).
#
# --gateway puts the piles behind station-gateway (docs/gateway.md) instead of the MQTT
# simulator: one OCPP 1.6J charger per pile (identity CP-<pile>, connector 1, a password
# made for the run, all in build/run/chargers.json) on ws://127.0.0.1:8180/ocpp/{identity},
# and, where node and npm are installed, one simulated OCPP charge point per charger
# (tests/gateway/cp-sim, which meters in real time: the station clock then runs at x1
# unless --speed says otherwise). The piles are metered (station-scheduler --metered-piles
# all): a charger's meter ends its session and the bill is what it measured. A real
# charger joins by taking one of those identities.
#
# --edge-centre splits the bus in two as a station at the edge and a centre would
# (docs/operations.md, "Edge and centre"): the scheduler and the piles on the station's
# own broker, bridged (broker/bridge.conf: persistent queues both ways) to a second,
# centre broker on which the API runs. Development brokers only.
#
# --centre-cluster (implies --edge-centre) makes the centre a three-node RabbitMQ cluster
# with its MQTT plugin (broker/centre-cluster.sh; Debian's rabbitmq-server), as the issue's
# production centre is: the bridge and the API log in with an account made for the run
# and fail over between the nodes.
#
# Every service serves Prometheus metrics on a free loopback port (the Metrics: line).
#
# For tests: STATION_BIN_DIR=DIR runs the binaries built in DIR (nothing is installed or
# built); STATION_RUN_DIR=DIR keeps the run's files there instead of build/run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
profile=bupt-2023 speed="" port=1883 http_port=8080 demo=1 secure=0 gateway=0 gateway_port=8180 edge=0
cluster=0 stations=1
usage="usage: deploy/run.sh [--secure] [--gateway] [--edge-centre] [--centre-cluster] [--stations N] [--profile NAME|FILE] [--speed X] [--port N] [--http-port N] [--no-demo]"
while [ $# -gt 0 ]; do
    case "$1" in
        --secure) secure=1; shift ;;
        --gateway) gateway=1; shift ;;
        --edge-centre) edge=1; shift ;;
        --centre-cluster) edge=1; cluster=1; shift ;;
        --stations) stations=$2; shift 2 ;;
        --profile) profile=$2; shift 2 ;;
        --speed) speed=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --http-port) http_port=$2; shift 2 ;;
        --no-demo) demo=0; shift ;;
        *) echo "$usage" >&2
           exit 2 ;;
    esac
done
if ! [[ "$stations" =~ ^[0-9]+$ ]] || [ "$stations" -lt 1 ] || [ "$stations" -gt 20 ]; then
    echo "--stations takes 1 to 20" >&2
    exit 2
fi
if [ "$stations" -gt 1 ] && [ "$edge" = 0 ]; then
    echo "--stations N needs a centre: --edge-centre or --centre-cluster" >&2
    exit 2
fi
if [ "$edge" = 1 ] && [ "$secure" = 1 ]; then
    echo "--edge-centre runs on development brokers only (not with --secure)" >&2
    exit 2
fi
if [ -z "$speed" ]; then
    speed=10
    [ "$gateway" = 1 ] && speed=1  # the simulated charge points meter in real time
fi

if [ -n "${STATION_BIN_DIR:-}" ]; then
    bin=$(cd "$STATION_BIN_DIR" && pwd)
else
    "$root/deploy/install-deps.sh" >&2
    cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
    cmake --build "$root/build/release" -j "$(nproc 2>/dev/null || echo 2)" \
        --target station-scheduler station-pile-sim station-api station-replay station-gateway >&2
    bin=$root/build/release
fi
run=${STATION_RUN_DIR:-$root/build/run}
# A run still stopping (the simulated piles disconnect cleanly, which takes seconds) would
# reconnect its piles to the new broker under the same client ids: wait for it to end.
if [ -f "$run/pids" ]; then
    for pid in $(cat "$run/pids"); do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
    done
fi
rm -rf "$run" && mkdir -p "$run"
run=$(cd "$run" && pwd)
if [ "$secure" = 1 ]; then
    umask 077
    chmod 700 "$run"
fi

in_use() { python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $1)) != 0)"; }
# Port 1883 may already be taken (Debian's mosquitto service): then any free port.
if in_use "$port"; then
    echo "port $port is in use; taking a free one" >&2
    port=0
fi
if in_use "$http_port"; then
    echo "port $http_port is in use; the API takes a free one" >&2
    http_port=0
fi
# The profile's piles, one "ID MODE POWER_KW" line each.
pile_specs=$("$bin/scheduler/replay/station-replay" --profile "$profile" --list-piles)
piles=$(echo "$pile_specs" | cut -d' ' -f1 | tr '\n' ' ')
[ -n "$piles" ] || { echo "cannot list the piles of profile $profile" >&2; exit 1; }
scheduler_password="" api_password="" monitor_password=""
pile_login=(STATION_MQTT_PASSWORD=)  # the piles log in as nobody: a development broker
if [ "$secure" = 1 ]; then
    # One account per service, a read-only monitor, and one per pile of the profile (named
    # by the pile id, with its own password: the simulator or the gateway reads them from
    # build/run/pile-passwords).
    for p in $piles; do
        case "$p" in
            scheduler | api | monitor) echo "a pile may not be named $p (a service's account)" >&2; exit 1 ;;
        esac
    done
    secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(18))'; }
    scheduler_password=$(secret) api_password=$(secret) monitor_password=$(secret)
    (umask 077 && for p in $piles; do echo "$p $(secret)"; done >"$run/pile-passwords")
    pile_login=(STATION_PILE_PASSWORDS_FILE="$run/pile-passwords")
    {
        echo "scheduler:$scheduler_password"
        echo "api:$api_password"
        echo "monitor:$monitor_password"
        while read -r p password; do echo "$p:$password"; done <"$run/pile-passwords"
    } >"$run/broker.passwd"
    chmod 600 "$run/broker.passwd"
    mosquitto_passwd -U "$run/broker.passwd"  # hashes the plain passwords in place
    "$root/broker/start-prod.sh" "$run/broker" "$run/broker.passwd" "$port" >&2
else
    if [ "$cluster" = 1 ]; then
        "$root/broker/centre-cluster.sh" start "$run/centre-cluster" 3 >&2
        STATION_BRIDGE_USER=$(cat "$run/centre-cluster/user") \
            STATION_BRIDGE_PASSWORD_FILE=$run/centre-cluster/password \
            "$root/broker/start-edge.sh" "$run/broker" "$(cat "$run/centre-cluster/mqtt.addresses")" S1 "$port" >&2
    elif [ "$edge" = 1 ]; then
        "$root/broker/start-dev.sh" "$run/centre" >&2
        "$root/broker/start-edge.sh" "$run/broker" "127.0.0.1:$(cat "$run/centre/broker.port")" S1 "$port" >&2
    else
        "$root/broker/start-dev.sh" "$run/broker" "$port" >&2
    fi
fi
port=$(cat "$run/broker/broker.port")
uri=tcp://127.0.0.1:$port
api_uri=$uri
# The services' broker logins (none on the development broker).
scheduler_login=() api_login=() api_station=()
# At the centre: evcs/v1/stations/S1/..., and S2 ... SN with --stations N.
[ "$edge" = 1 ] && api_station=(--station "$(seq -f 'S%g' 1 "$stations" | paste -sd,)")
if [ "$cluster" = 1 ]; then
    api_uri=$(sed 's|^|tcp://|' "$run/centre-cluster/mqtt.addresses" | paste -sd,)
    api_login=(--mqtt-user "$(cat "$run/centre-cluster/user")")
    api_password=$(cat "$run/centre-cluster/password")
elif [ "$edge" = 1 ]; then
    api_uri=tcp://127.0.0.1:$(cat "$run/centre/broker.port")
fi
if [ "$secure" = 1 ]; then
    scheduler_login=(--mqtt-user scheduler)
    api_login=(--mqtt-user api)
fi
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait "${pids[@]}" 2>/dev/null || true
    kill "$(cat "$run/broker/broker.pid")" 2>/dev/null || true
    for b in "$run"/broker-S*/broker.pid; do [ -f "$b" ] && kill "$(cat "$b")" 2>/dev/null; done || true
    [ -f "$run/centre/broker.pid" ] && kill "$(cat "$run/centre/broker.pid")" 2>/dev/null || true
    [ -d "$run/centre-cluster" ] && "$root/broker/centre-cluster.sh" stop "$run/centre-cluster" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

start="$(date +%F) 06:00:00"
# Behind the gateway the piles are chargers with meters: their meters end the sessions.
metered=()
[ "$gateway" = 1 ] && metered=(--metered-piles all)
STATION_MQTT_PASSWORD=$scheduler_password \
    "$bin/scheduler/service/station-scheduler" --broker "$uri" --profile "$profile" "${scheduler_login[@]}" "${metered[@]}" \
    --sim-start "$start" --sim-speed "$speed" --journal "$run/scheduler.journal" \
    --metrics 127.0.0.1:0 2>"$run/scheduler.log" &
pids+=($!)
pile_logs=pile-sim
if [ "$gateway" = 1 ]; then
    pile_logs="gateway,cp-sim-*"
    if in_use "$gateway_port"; then
        echo "port $gateway_port is in use; the gateway takes a free one" >&2
        gateway_port=0
    fi
    # One charger per pile, with a password made for this run.
    echo "$pile_specs" | python3 -c '
import json, secrets, sys
chargers = []
for line in sys.stdin.read().split("\n"):
    if line.strip():
        pile, mode, power = line.split()
        chargers.append({"identity": "CP-" + pile, "password": secrets.token_urlsafe(15),
                         "connectors": [{"connector": 1, "pile": pile, "mode": mode,
                                         "power_kw": float(power)}]})
json.dump({"chargers": chargers}, open(sys.argv[1], "w"), indent=1)' "$run/chargers.json"
    chmod 600 "$run/chargers.json"
    env "${pile_login[@]}" \
        "$bin/gateway/station-gateway" --chargers "$run/chargers.json" --broker "$uri" \
        --port "$gateway_port" --metrics 127.0.0.1:0 2>"$run/gateway.log" &
    pids+=($!)
    for _ in $(seq 100); do grep -q "listening on port" "$run/gateway.log" && break; sleep 0.1; done
    gateway_port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$run/gateway.log" | head -n 1)
    [ -n "$gateway_port" ] || { echo "station-gateway did not start: $run/gateway.log" >&2; exit 1; }
    if command -v node >/dev/null && command -v npm >/dev/null; then
        "$root/tests/gateway/cp-sim-install.sh" "$root/tests/gateway/cp-sim" "$root/build/cp-sim" >&2
        while read -r charger password power; do
            node "$root/build/cp-sim/cp-sim.js" --url "ws://127.0.0.1:$gateway_port/ocpp" \
                --identity "$charger" --password "$password" --connectors 1 --power-kw "$power" \
                >"$run/cp-sim-$charger.log" 2>&1 &
            pids+=($!)
        done < <(python3 -c '
import json, sys
for c in json.load(open(sys.argv[1]))["chargers"]:
    print(c["identity"], c["password"], c["connectors"][0]["power_kw"])' "$run/chargers.json")
    else
        echo "node and npm are not installed: no simulated charge points; the gateway waits for real chargers" >&2
    fi
else
    env "${pile_login[@]}" \
        "$bin/pile-sim/station-pile-sim" --broker "$uri" --profile "$profile" 2>"$run/pile-sim.log" &
    pids+=($!)
fi
# --stations N: stations S2 ... SN at the edge as well, each its own broker bridged to the
# same centre, its own scheduler (journal, logs in build/run/S<k>/) and simulated piles.
if [ "$stations" -gt 1 ]; then
    centre_addresses=$(cat "$run/centre-cluster/mqtt.addresses" 2>/dev/null ||
        echo "127.0.0.1:$(cat "$run/centre/broker.port")")
    for k in $(seq 2 "$stations"); do
        mkdir -p "$run/S$k"
        bridge_login=()
        [ "$cluster" = 1 ] && bridge_login=(STATION_BRIDGE_USER="$(cat "$run/centre-cluster/user")"
            STATION_BRIDGE_PASSWORD_FILE="$run/centre-cluster/password")
        env "${bridge_login[@]}" "$root/broker/start-edge.sh" "$run/broker-S$k" "$centre_addresses" "S$k" >&2
        edge_uri=tcp://127.0.0.1:$(cat "$run/broker-S$k/broker.port")
        "$bin/scheduler/service/station-scheduler" --broker "$edge_uri" --profile "$profile" \
            --sim-start "$start" --sim-speed "$speed" --journal "$run/S$k/scheduler.journal" \
            --metrics 127.0.0.1:0 2>"$run/S$k/scheduler.log" &
        pids+=($!)
        "$bin/pile-sim/station-pile-sim" --broker "$edge_uri" --profile "$profile" 2>"$run/S$k/pile-sim.log" &
        pids+=($!)
    done
fi
export STATION_ADMIN_ACCOUNT=${STATION_ADMIN_ACCOUNT:-admin@station.local}
if [ -z "${STATION_ADMIN_PASSWORD:-}" ]; then
    STATION_ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')
fi
export STATION_ADMIN_PASSWORD
STATION_MQTT_PASSWORD=$api_password \
    "$bin/api/station-api" --broker "$api_uri" "${api_login[@]}" "${api_station[@]}" --db "$run/station.db" --port "$http_port" \
    --port-file "$run/api.port" --metrics 127.0.0.1:0 2>"$run/api.log" &
pids+=($!)
echo "${pids[*]} $(cat "$run/broker/broker.pid") $(cat "$run"/broker-S*/broker.pid "$run/centre/broker.pid" "$run"/centre-cluster/node*/rabbitmq.pid 2>/dev/null | xargs)" >"$run/pids"
for _ in $(seq 100); do [ -s "$run/api.port" ] && break; sleep 0.1; done
http_port=$(cat "$run/api.port")
api=http://127.0.0.1:$http_port
# Each service serves Prometheus metrics on a free loopback port (its log says which).
metrics=""
for service in scheduler api gateway; do
    [ -f "$run/$service.log" ] || continue
    url=""
    for _ in $(seq 50); do
        url=$(sed -n 's|.* info: metrics on \(http://[^ ]*\)$|\1|p' "$run/$service.log" | head -n 1)
        [ -n "$url" ] && break
        sleep 0.1
    done
    metrics="$metrics${metrics:+  }$service $url"
    echo "$service $url" >>"$run/metrics.urls"
done

cat <<MSG
The station is running: broker $uri, profile $profile, station clock from $start at x$speed.
REST API: $api   (admin: $STATION_ADMIN_ACCOUNT / $STATION_ADMIN_PASSWORD)
Pages:    $api/client/index   $api/admin/index
Logs:     $run/{scheduler,$pile_logs,api}.log and $run/broker/broker.log
MSG
if [ "$cluster" = 1 ]; then
    cat <<MSG
Edge:     the station's broker $uri (scheduler, piles) is bridged (broker/bridge.conf) to
          the centre's RabbitMQ cluster ($api_uri), where the API runs
          (user $(cat "$run/centre-cluster/user"), password in $run/centre-cluster/password);
          node logs in $run/centre-cluster/node*/log.
MSG
elif [ "$edge" = 1 ]; then
    cat <<MSG
Edge:     the station's broker $uri (scheduler, piles) is bridged (broker/bridge.conf) to
          the centre's broker $api_uri, where the API runs; logs in $run/centre/broker.log.
MSG
fi
if [ "$stations" -gt 1 ]; then
    cat <<MSG
Stations: S1 (the one above) to S$stations, each its own broker, scheduler and piles at the edge
          (logs in $run/S<k>/, brokers in $run/broker-S<k>/); the API serves them all:
          add ?station=S2 to a request (docs/openapi.yaml, "Several stations"), else S1.
MSG
fi
cat <<MSG
Metrics:  $metrics
The README shows a curl session; docs/openapi.yaml documents every endpoint.
MSG
if [ "$gateway" = 1 ]; then
    cat <<MSG
OCPP:     ws://127.0.0.1:$gateway_port/ocpp/{identity} (OCPP 1.6J, HTTP Basic): one charger per
          pile, identities and passwords in $run/chargers.json (CP-F1 is pile F1, ...).
          A real charger joins with one of them (docs/gateway.md, "Configuring a real charger").
MSG
fi
if [ "$secure" = 1 ]; then
    cat <<MSG
Broker:   broker/prod.conf with evcs.acl: every account logs in with a password made for
          this run (hashed in $run/broker.passwd); anonymous clients are refused; an
          account's client id is its name (one connection per account at a time).
Watch the bus (read-only): mosquitto_sub -h 127.0.0.1 -p $port -u monitor -P '$monitor_password' -v -t 'evcs/v1/#'
Ctrl-C stops everything.
MSG
else
    cat <<MSG
Watch the bus: mosquitto_sub -h 127.0.0.1 -p $port -v -t 'evcs/v1/#'
WARNING:  the development broker takes anonymous clients: anyone with a shell on this
          machine can act as the scheduler or as any pile (command piles, forge the station
          state and the change log the API copies). On a shared machine use --secure.
Ctrl-C stops everything.
MSG
fi

if [ "$demo" = 1 ]; then
    sleep 2  # the piles connect and report online
    # A known demo password only on the development stack; a --secure run makes one up.
    demo_password=demo
    if [ "$secure" = 1 ]; then
        demo_password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')
    fi
    token=$(curl -s -X POST "$api/client/register" \
        -d "{\"account\":\"demo@station.local\",\"password\":\"$demo_password\",\"name\":\"演示用户\"}" |
        python3 -c 'import json,sys; print((json.load(sys.stdin)["data"] or {}).get("token") or "")')
    if [ -n "$token" ]; then
        for req in "D1 F 30" "D2 T 10" "D3 F 15" "D4 T 21" "D5 T 7" "D6 F 45"; do
            set -- $req
            car=$(curl -s -X POST "$api/client/index/car" -H "token: $token" \
                -d "{\"name\":\"$1\",\"power_capacity\":80,\"power_current\":10}" |
                python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["car_id"])')
            curl -s -o /dev/null -X POST "$api/client/index/order" -H "token: $token" \
                -d "{\"car_id\":\"$car\",\"mode\":\"$2\",\"apply_kwh\":$3}"
        done
        echo "Demo: user demo@station.local (password $demo_password) asked to charge six cars (D1-D6)."
    fi
fi
wait "${pids[0]}"
