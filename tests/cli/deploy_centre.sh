#!/usr/bin/env bash
# "check && ok || fail": ok only prints.
# shellcheck disable=SC2015
# The centre under systemd (issue #12, docs/operations.md "The centre under systemd")
# without a running systemd: deploy/install-centre.sh into temporary roots, one per
# machine of a centre of two RabbitMQ nodes (c1, c2) and an API-only machine (--dry-run
# first: nothing written). Checks: the files and their modes; every secret in a 0600
# credential file and nowhere else, each credential a unit loads present, each NAME_FILE
# read by its binary; a second run changing nothing; the second machine refused until the
# first's credentials are copied, then the same RabbitMQ users; a rotated bridge password
# changing only its user's hash; systemd-analyze verify and security on the units, with
# Debian's rabbitmq-server.service and our drop-in. Then live, as the units run them
# (tests/tools/run_unit.py: credentials, environment files, ExecStartPre, ExecStart):
# two RabbitMQ nodes on the generated configuration (ports and names moved to loopback)
# form one cluster by peer discovery, with the cookie and the users from the credentials
# and no guest; the API's and a bridge's passwords log in, a wrong one does not; a bridge
# may publish its own station's topics only and read only its own requests; and
# evcs-api@1 serves on PostgreSQL (the runbook's role, the password from the libpq
# credential), logged in to the cluster, its first admin's password the credential's.
#   deploy_centre.sh SOURCE_DIR BUILD_DIR
# Exit 77 (skipped) without systemd-analyze, RabbitMQ, mosquitto's clients or PostgreSQL.
set -euo pipefail
src=$1
build=$2
# shellcheck source=tests/cli/deploy_lib.sh
. "$src/tests/cli/deploy_lib.sh"  # and broker_lib.sh; exit 77 without systemd-analyze
rabbit_bin=/usr/lib/rabbitmq/bin
[ -x "$rabbit_bin/rabbitmq-server" ] || { echo "rabbitmq-server is missing: skipped"; exit 77; }
command -v mosquitto_pub >/dev/null || { echo "mosquitto_pub is missing: skipped"; exit 77; }
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "PostgreSQL is missing: skipped"; exit 77; }
dir=$(mktemp -d)
chmod 711 "$dir"
api_pid=""
cleanup() {
    [ -z "$api_pid" ] || kill "$api_pid" 2>/dev/null || true
    # The nodes (beam stops on SIGTERM), then what is left of them.
    local pids=() n alive
    for n in 1 2; do
        for f in "$dir/node$n/pid" "$dir/node$n/launcher.pid"; do [ ! -f "$f" ] || pids+=("$(cat "$f")"); done
    done
    if [ ${#pids[@]} -gt 0 ]; then
        kill "${pids[@]}" 2>/dev/null || true
        for _ in $(seq 100); do
            alive=0
            for n in "${pids[@]}"; do ! kill -0 "$n" 2>/dev/null || alive=1; done
            [ "$alive" = 1 ] || break
            sleep 0.1
        done
        kill -9 "${pids[@]}" 2>/dev/null || true
    fi
    "$src/tests/tools/pg_test_server.sh" stop "$dir/pg" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
fake_systemctl "$dir"
c1=$dir/c1 c2=$dir/c2 apionly=$dir/apionly
install() {
    local root=$1
    shift
    "$src/deploy/install-centre.sh" --root "$root" --nodes c1,c2 --stations S1,S2 "$@" "$build"
}

# ---- --dry-run: says everything, writes nothing -------------------------------------------
if out=$(install "$c1" --node c1 --dry-run 2>&1); then ok "--dry-run succeeds"; else fail "--dry-run failed: $out"; fi
[ ! -e "$c1" ] && ok "--dry-run wrote nothing" || fail "--dry-run wrote $(find "$c1" | head -5)"
for want in "evcs-api@.service" "evcs-centre.target" "rabbitmq-server.service.d/evcs.conf" "rabbitmq.conf" \
    "api-1.env" "api-2.env" "erlang.cookie (0600, root)" "bridge-S2.mqtt (0600, root)" \
    "users api bridge-S1 bridge-S2"; do
    [[ "$out" == *"$want"* ]] || fail "--dry-run does not say $want"
done

# ---- the first node's machine (with MQTT over TLS) ------------------------------------------
tls_authority "$dir/tls"
tls_certificate "$dir/tls" c1 DNS:c1,IP:127.0.0.1
tls=(--tls-cert "$dir/tls/c1.pem" --tls-key "$dir/tls/c1.key" --tls-ca "$dir/tls/ca.pem")
install "$c1" --node c1 --tls-cert "$dir/tls/c1.pem" >/dev/null 2>&1 &&
    fail "--tls-cert alone was accepted" || ok "--tls-cert, --tls-key and --tls-ca go together"
if out=$(install "$c1" --node c1 "${tls[@]}" 2>&1); then ok "the install on c1 succeeds"; else fail "the install on c1 failed: $out"; fi
etc=$c1/etc/evcs
creds=$etc/credentials
expect_mode() {
    local got
    got=$(stat -c %a "$1" 2>/dev/null || echo missing)
    [ "$got" = "$2" ] || fail "${1#"$dir"/} is $got, not $2"
}
expect_mode "$c1/usr/local/bin/station-api" 755
expect_mode "$c1/usr/local/bin/station-db-copy" 755
for f in evcs-api@.service evcs-centre.target rabbitmq-server.service.d/evcs.conf rabbitmq-server.service.d/tls.conf; do
    expect_mode "$c1/etc/systemd/system/$f" 644
done
for f in evcs/centre.env evcs/api-1.env evcs/api-2.env rabbitmq/rabbitmq.conf rabbitmq/enabled_plugins \
    evcs/centre-tls.pem evcs/centre-ca.pem; do
    expect_mode "$c1/etc/$f" 644
done
for f in erlang.cookie centre-api.mqtt centre-api.admin centre-api.pgpass bridge-S1.mqtt bridge-S2.mqtt \
    rabbitmq-definitions.json centre-tls.key; do
    expect_mode "$creds/$f" 600
done
grep -q '^evcs-api:' "$c1/etc/passwd" || fail "no system user evcs-api"
ok "files installed with their modes, the user evcs-api made"
wants=$(sed -n 's/^Wants=//p' "$c1/etc/systemd/system/evcs-centre.target")
[ "$wants" = "rabbitmq-server.service evcs-api@1.service evcs-api@2.service" ] &&
    ok "evcs-centre.target wants the node and both instances" || fail "evcs-centre.target wants: $wants"
grep -qx 'EVCS_BROKER=tcp://c1:1883,tcp://c2:1883' "$etc/api-1.env" &&
    grep -qx 'EVCS_BROKER=tcp://c2:1883,tcp://c1:1883' "$etc/api-2.env" &&
    [ "$(sed -n 's/^EVCS_API_CLIENT_ID=//p' "$etc"/api-*.env | sort -u | wc -l)" = 2 ] &&
    ok "each instance its own client id and first node" || fail "instances: $(grep -h 'BROKER\|CLIENT' "$etc"/api-*.env)"
grep -qx 'cluster_formation.classic_config.nodes.2 = rabbit@c2' "$c1/etc/rabbitmq/rabbitmq.conf" ||
    fail "rabbitmq.conf lacks the peer rabbit@c2"
check_credentials "$c1"
check_no_secret "$c1"
check_binaries_read "$c1" "$build"

# ---- again: nothing changes ---------------------------------------------------------------
before=$(etc_sums "$c1")
install "$c1" >/dev/null 2>&1 || fail "a second install (settings from centre.env) failed"
[ "$(etc_sums "$c1")" = "$before" ] && ok "a second install changes nothing, secrets and hashes kept" ||
    fail "a second install changed: $(diff <(echo "$before") <(etc_sums "$c1"))"

# ---- the second node's machine: the first's credentials, or nothing --------------------------
if out=$(install "$c2" --node c2 2>&1); then
    fail "c2 installed without the centre's credentials"
else
    [[ "$out" == *"copy them from there"* ]] && [ ! -e "$c2/etc/evcs/credentials" ] &&
        ok "c2 without c1's credentials: refused with the reason, no secret made" ||
        fail "c2 without credentials: $out"
fi
mkdir -p "$c2/etc/evcs"
cp -a "$creds" "$c2/etc/evcs/"
if out=$(install "$c2" --node c2 2>&1); then ok "c2 with c1's credentials installs"; else fail "c2 failed: $out"; fi
cmp -s "$creds/rabbitmq-definitions.json" "$c2/etc/evcs/credentials/rabbitmq-definitions.json" &&
    grep -qx 'EVCS_BROKER=tcp://c2:1883,tcp://c1:1883' "$c2/etc/evcs/api-1.env" &&
    ok "c2: the same users and hashes as c1, its instances start at its own node" ||
    fail "c2's definitions or instances differ"
mkdir -p "$apionly/etc/evcs"
cp -a "$creds" "$apionly/etc/evcs/"
install "$apionly" --node none --api 3 >/dev/null 2>&1 || fail "an API-only machine failed to install"
[ ! -e "$apionly/etc/systemd/system/rabbitmq-server.service.d" ] && [ ! -e "$apionly/etc/rabbitmq" ] &&
    [ "$(sed -n 's/^Wants=//p' "$apionly/etc/systemd/system/evcs-centre.target")" = "evcs-api@3.service" ] &&
    ok "an API-only machine (--node none): its instance only, no RabbitMQ configuration" ||
    fail "the API-only machine has RabbitMQ files or another target"

# ---- a bridge's password rotated: its hash only changes -------------------------------------
user_hash() { python3 -c 'import json,sys; print({u["name"]: u["password_hash"] for u in json.load(open(sys.argv[1]))["users"]}[sys.argv[2]])' "$1" "$2"; }
api_hash=$(user_hash "$creds/rabbitmq-definitions.json" api)
s2_hash=$(user_hash "$creds/rabbitmq-definitions.json" bridge-S2)
cp "$creds/bridge-S2.mqtt" "$dir/bridge-S2.saved"
rm "$creds/bridge-S2.mqtt"
install "$c1" >/dev/null 2>&1 || fail "the install after removing a bridge's password failed"
new_hash=$(user_hash "$creds/rabbitmq-definitions.json" bridge-S2)
! cmp -s "$creds/bridge-S2.mqtt" "$dir/bridge-S2.saved" && [ "$new_hash" != "$s2_hash" ] &&
    [ "$(user_hash "$creds/rabbitmq-definitions.json" api)" = "$api_hash" ] &&
    ok "a removed bridge password is made anew: its hash changes, the others stay" ||
    fail "rotating bridge-S2 did not change only its hash"
# As the runbook says: the first machine's credentials copied to the others, installed again.
cp -a "$creds" "$c2/etc/evcs/"
install "$c2" >/dev/null 2>&1 || fail "c2's install with the rotated password failed"
cmp -s "$creds/rabbitmq-definitions.json" "$c2/etc/evcs/credentials/rabbitmq-definitions.json" ||
    fail "c2's definitions differ from c1's after the rotation"

# ---- systemd-analyze --------------------------------------------------------------------------
verify_units "$c1" "$dir/units" evcs-api@.service evcs-centre.target rabbitmq-server.service
if report=$(systemd-analyze security --offline=yes --threshold=20 --no-pager "$dir/units/evcs-api@.service" 2>&1); then
    ok "evcs-api@.service: $(echo "$report" | grep -o 'exposure level.*' | head -n 1)"
else
    fail "evcs-api@.service is exposed above 2.0: $(echo "$report" | grep -E '✗|Overall')"
fi
[ ! -e "$dir/systemctl.calls" ] && ok "no systemctl call with --root" ||
    fail "systemctl was called: $(cat "$dir/systemctl.calls")"

# ---- live: two nodes of the cluster as the drop-in runs them ----------------------------------
export ERL_EPMD_ADDRESS=127.0.0.1
# Node names of this run's own: other tests' nodes may be up on this machine's epmd.
node_name() { echo "evcs-deploy-$$-$1@localhost"; }
# node_env N: the node's own folders and ports (in place of Debian's /var/lib/rabbitmq).
node_env() {
    local d=$dir/node$1
    RABBITMQ_DIST_PORT=$(cat "$d/dist.port")
    RABBITMQ_NODENAME=$(node_name "$1")
    export HOME=$d/home RABBITMQ_NODENAME RABBITMQ_DIST_PORT
    export RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins
    export RABBITMQ_MNESIA_BASE=$d/mnesia RABBITMQ_LOG_BASE=$d/log RABBITMQ_PID_FILE=$d/pid
    export RABBITMQ_PLUGINS_EXPAND_DIR=$d/plugins-expand
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}
node_ctl() { (node_env "$1" && "$rabbit_bin/rabbitmqctl" -n "$(node_name "$1")" "${@:2}"); }
for n in 1 2; do
    root=$c1
    [ "$n" = 1 ] || root=$c2
    d=$dir/node$n
    mkdir -p "$d/home" "$d/log" "$d/mnesia"
    free_port >"$d/dist.port"
    free_port >"$d/mqtt.port"
    free_port >"$d/mqtts.port"
    # The generated configuration, only its ports, the credential's folder and the node
    # names (rabbit@c1, rabbit@c2 -> this run's names on localhost) moved.
    sed -e "s|^listeners.tcp.default = .*|listeners.tcp.default = 127.0.0.1:$(free_port)|" \
        -e "s|^mqtt.listeners.tcp.default = 1883$|mqtt.listeners.tcp.default = 127.0.0.1:$(cat "$d/mqtt.port")|" \
        -e "s|^mqtt.listeners.ssl.default = 8883$|mqtt.listeners.ssl.default = 127.0.0.1:$(cat "$d/mqtts.port")|" \
        -e "s|= /etc/evcs/|= $root/etc/evcs/|" \
        -e "s|/run/credentials/rabbitmq-server.service/|$d/creds/|" \
        -e "s|= rabbit@c\\([12]\\)\$|= $(node_name '\1')|" "$root/etc/rabbitmq/rabbitmq.conf" >"$d/rabbitmq.conf"
    cp "$root/etc/rabbitmq/enabled_plugins" "$d/enabled_plugins"
    (node_env "$n" && cd "$d" && exec setsid python3 "$src/tests/tools/run_unit.py" "$root" rabbitmq-server.service \
        --keep-env --creds "$d/creds" --map "/var/lib/rabbitmq=$d/home") >"$d/server.out" 2>&1 </dev/null &
    echo $! >"$d/launcher.pid"
done
up() { (node_env "$1" && "$rabbit_bin/rabbitmq-diagnostics" -n "$(node_name "$1")" -q ping) >/dev/null 2>&1; }
for n in 1 2; do
    for _ in $(seq 300); do
        up "$n" && break
        kill -0 "$(cat "$dir/node$n/launcher.pid")" 2>/dev/null || break
        sleep 0.2
    done
    node_ctl "$n" await_startup >/dev/null 2>&1 || fail "node $n did not start: $(tail -n 5 "$dir/node$n/server.out")"
done
running=$(node_ctl 1 cluster_status --formatter json 2>/dev/null |
    python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["running_nodes"])))' || true)
[ "$running" = "$(node_name 1) $(node_name 2)" ] &&
    ok "two nodes on the generated configuration form one cluster by peer discovery (the credential's cookie)" ||
    fail "the nodes' cluster: '$running'"
users=$(node_ctl 2 list_users --formatter json 2>/dev/null |
    python3 -c 'import json,sys; print(" ".join(sorted(u["user"] for u in json.load(sys.stdin))))' || true)
[ "$users" = "api bridge-S1 bridge-S2" ] && ok "the users are the credential's definitions', no guest" ||
    fail "the cluster's users: '$users'"

mqtt1=$(cat "$dir/node1/mqtt.port") mqtt2=$(cat "$dir/node2/mqtt.port")
api_pw=$(head -n 1 "$creds/centre-api.mqtt")
s1_pw=$(head -n 1 "$creds/bridge-S1.mqtt")
# pub PORT USER PASSWORD TOPIC: one QoS 1 publication, as the client id a bridge uses.
pub() { mosquitto_pub -h 127.0.0.1 -p "$1" -i "cid-$2" -u "$2" -P "$3" -q 1 -t "$4" -m x >/dev/null 2>&1; }
# A cluster just formed may refuse MQTT connections for a while (RabbitMQ 3.10 tracks client
# ids in a Raft cluster of the nodes, which has to elect its leader first): wait for it.
for _ in $(seq 60); do
    pub "$mqtt1" api "$api_pw" evcs/v1/stations/S2/scheduler/requests &&
        pub "$mqtt2" bridge-S1 "$s1_pw" evcs/v1/stations/S1/station/state && break
    sleep 0.5
done
pub "$mqtt1" api "$api_pw" evcs/v1/stations/S2/scheduler/requests &&
    pub "$mqtt2" bridge-S1 "$s1_pw" evcs/v1/stations/S1/station/state &&
    pub "$mqtt1" bridge-S1 "$s1_pw" evcs/v1/stations/S1/replies/r1 &&
    ok "the APIs' and a bridge's passwords log in, at either node" || fail "a generated password was refused"
pub "$mqtt1" api wrong-password evcs/v1/x && fail "a wrong password was accepted" || ok "a wrong password is refused"
mqtts1=$(cat "$dir/node1/mqtts.port")
mosquitto_pub -h 127.0.0.1 -p "$mqtts1" --cafile "$dir/tls/ca.pem" -i cid-tls -u bridge-S1 -P "$s1_pw" -q 1 \
    -t evcs/v1/stations/S1/station/state -m x >/dev/null 2>&1 &&
    ok "node c1 serves MQTT over TLS with its certificate, which its authority vouches for" ||
    fail "no MQTT over TLS at c1: $(grep -i 'ssl\|tls' "$dir/node1/log/"*.log 2>/dev/null | tail -n 3)"
pub "$mqtt1" guest guest evcs/v1/x && fail "guest was accepted" || ok "guest is refused"
pub "$mqtt1" bridge-S1 "$s1_pw" evcs/v1/stations/S2/station/state && fail "bridge-S1 published S2's state" ||
    ok "a bridge may not publish another station's topics"
pub "$mqtt1" bridge-S1 "$s1_pw" evcs/v1/stations/S1/scheduler/requests && fail "bridge-S1 published requests" ||
    ok "a bridge may not publish its station's requests (the API's)"
# A bridge reads its own station's requests, never another's.
sub() {  # sub TOPIC: what bridge-S1 receives of TOPIC within 5 s, one message
    timeout 8 mosquitto_sub -h 127.0.0.1 -p "$mqtt2" -i bridge-S1 -u bridge-S1 -P "$s1_pw" -q 1 \
        -t "$1" -C 1 -W 5 2>/dev/null || true
}
(sleep 2 && pub "$mqtt1" api "$api_pw" evcs/v1/stations/S1/scheduler/requests) &
publisher=$!
[ "$(sub evcs/v1/stations/S1/scheduler/requests)" = x ] && ok "a bridge reads its station's requests" ||
    fail "bridge-S1 did not receive its station's request"
wait "$publisher" || true
(sleep 2 && pub "$mqtt1" api "$api_pw" evcs/v1/stations/S2/scheduler/requests) &
publisher=$!
[ -z "$(sub evcs/v1/stations/S2/scheduler/requests)" ] && ok "a bridge cannot read another station's requests" ||
    fail "bridge-S1 received S2's request"
wait "$publisher" || true

# ---- live: evcs-api@1 on PostgreSQL, as the unit runs it -------------------------------------
"$src/tests/tools/pg_test_server.sh" start "$dir/pg" >/dev/null
maintenance=$(cat "$dir/pg/uri")
pg_port=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlparse(sys.argv[1]).port)' "$maintenance")
# The runbook's role: the password is the libpq credential's last field, given on stdin.
printf "CREATE ROLE evcs_api LOGIN PASSWORD '%s';\n" "$(cut -d: -f5 "$creds/centre-api.pgpass")" |
    psql -X -q "$maintenance" >/dev/null
psql -X -q "$maintenance" -c 'CREATE DATABASE evcs OWNER evcs_api' >/dev/null
# The API asks each station's scheduler for its log when it connects: seen on the cluster.
timeout 60 mosquitto_sub -h 127.0.0.1 -p "$mqtt2" -i watch -u api -P "$api_pw" -q 1 \
    -t 'evcs/v1/stations/+/scheduler/requests' -C 1 -W 50 >"$dir/requests" 2>/dev/null &
watcher=$!
sleep 1
python3 "$src/tests/tools/run_unit.py" "$c1" evcs-api@.service --instance 1 --creds "$dir/api-creds" \
    --map "/usr/local=$c1/usr/local" --set "EVCS_BROKER=tcp://127.0.0.1:$mqtt1,tcp://127.0.0.1:$mqtt2" \
    --set "EVCS_DB=postgresql://evcs_api@127.0.0.1:$pg_port/evcs" \
    --set "EVCS_API_ARGS=--host 127.0.0.1 --port 0 --port-file $dir/api.port" >"$dir/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 300); do [ -s "$dir/api.port" ] && break; sleep 0.1; done
if [ -s "$dir/api.port" ]; then
    ok "evcs-api@1 serves on PostgreSQL with the password from its libpq credential"
    admin=$(sed -n 's/^STATION_ADMIN_ACCOUNT=//p' "$etc/centre.env")
    login=$(admin_login "$(cat "$dir/api.port")" "$admin" "$creds/centre-api.admin")
    [ "$login" = 0 ] && ok "its first admin logs in with the credential's password" || fail "admin login: $login"
else
    fail "evcs-api@1 did not serve: $(tail -n 10 "$dir/api.log")"
fi
wait "$watcher" || true
grep -q '"op"' "$dir/requests" &&
    ok "it logs in to the cluster as api with its credential (its first request seen there)" ||
    fail "no request of evcs-api@1 on the cluster: $(tail -n 5 "$dir/api.log")"

echo "$fails failure(s)"
[ "$fails" = 0 ]
