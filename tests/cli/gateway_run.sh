#!/usr/bin/env bash
# deploy/run.sh --secure --gateway (issue #10) with the binaries of a build: every pile of
# the profile is a connector of an OCPP 1.6J charger behind station-gateway, each charger
# a simulated charge point (tests/gateway/cp-sim, ocpp-rpc in strict mode) with the
# password run.sh made for it, each pile logged in to the production broker with its own
# account. Checks: every pile comes online; a driver's request through REST starts a
# transaction at a charger (the remote start, StartTransaction answered Accepted) and the
# charger's meter ends it, the order finished with the metered energy billed; the
# chargers file is 0600; a charger with a wrong password is refused; stopping run.sh stops
# every process.
#   gateway_run.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
# shellcheck source=tests/cli/broker_lib.sh
. "$src/tests/cli/broker_lib.sh"
# shellcheck source=tests/cli/run_lib.sh
. "$src/tests/cli/run_lib.sh"

# The first run installs the simulator (npm ci): up to a minute.
run_start 600 admin@gateway.test gateway-admin --secure --gateway --no-demo --port 0 --http-port 0
gateway_port=$(sed -n 's|^OCPP: *ws://127.0.0.1:\([0-9]*\)/.*|\1|p' "$dir/out.txt")

token=$(admin_token admin@gateway.test gateway-admin)
for pile in F1 F2 T1 T2 T3; do  # the piles of bupt-2023, run.sh's default profile
    if state=$(pile_comes_online "$token" "$pile" 100); then
        ok "pile $pile is online through its OCPP charger CP-$pile"
    else
        fail "pile $pile did not come online: $state"
    fi
done

client=$(curl -s -X POST "$api/client/register" \
    -d '{"account":"driver@gateway.test","password":"driver-pass","name":"司机"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
car=$(curl -s -X POST "$api/client/index/car" -H "token: $client" \
    -d '{"name":"G1","power_capacity":80,"power_current":10}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["car_id"])')
# 0.05 kWh: about 6 s at 30 kW; the charger's meter, not the model, ends it (metered piles).
order=$(curl -s -X POST "$api/client/index/order" -H "token: $client" \
    -d "{\"car_id\":\"$car\",\"mode\":\"F\",\"apply_kwh\":0.05}")
case "$order" in
    *'"code":200'*) ok "a driver's request is taken" ;;
    *) fail "the request was refused: $order" ;;
esac
started=""
for _ in $(seq 1 100); do
    started=$(cat "$run"/cp-sim-CP-F1.log "$run"/cp-sim-CP-F2.log 2>/dev/null |
        grep -c '"event":"transaction_started"' || true)
    [ "$started" -ge 1 ] && break
    sleep 0.2
done
if [ "$started" -ge 1 ] && grep -q '"method":"StartTransaction"' "$run"/cp-sim-CP-F*.log; then
    ok "the request starts a transaction at a fast pile's charger (StartTransaction accepted)"
else
    fail "no transaction started at CP-F1 or CP-F2"
fi

# The charger's meter reaches the amount (its MeterValues every 10 s), the gateway stops
# the transaction, and the scheduler finishes the order with the metered energy billed.
finished=""
for _ in $(seq 1 200); do
    finished=$(curl -s "$api/client/index/order?mode=HISTORY" -H "token: $client" | python3 -c '
import json, sys
done = [o for o in json.load(sys.stdin)["data"] if o["state"] == "FINISHED"]
print("%.3f" % float(done[0]["charge_kwh"]) if done else "")' 2>/dev/null || true)
    [ -n "$finished" ] && break
    sleep 0.2
done
if [ -n "$finished" ] && python3 -c "import sys; sys.exit(0 if float('$finished') >= 0.05 else 1)"; then
    ok "the charger's meter ends the session: order finished, $finished kWh billed as metered"
else
    fail "the order did not finish by the charger's meter (charge_kwh: '$finished')"
fi

mode=$(stat -c %a "$run/chargers.json")
[ "$mode" = 600 ] && ok "the chargers file is 0600" || fail "the chargers file is $mode"
status=$(curl -s -o /dev/null -w '%{http_code}' -u CP-F1:wrong-password \
    -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Protocol: ocpp1.6' \
    "http://127.0.0.1:$gateway_port/ocpp/CP-F1")
[ "$status" = 401 ] && ok "a charger with a wrong password is refused (401)" ||
    fail "a wrong password got HTTP $status"

run_stop

if [ "$fails" != 0 ]; then
    cat "$dir/out.txt" "$dir/err.txt" "$run/scheduler.log" "$run/gateway.log" "$run/api.log"
    exit 1
fi
echo "all gateway run checks passed"
