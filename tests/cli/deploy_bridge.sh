#!/usr/bin/env bash
# "check && ok || fail": ok only prints.
# shellcheck disable=SC2015
# A station's bridge to the centre under systemd (issue #12, docs/operations.md, "The
# stations' bridges"): deploy/install-systemd.sh --station S1 --centre
# 127.0.0.1:PORT into a temporary root stops before writing anything while the bridge's
# password (made at the centre) is missing; with it, the bridge's section and its password
# are a credential (0600) that the broker's drop-in loads and mosquitto.conf includes, and
# nowhere else; the installed broker bridges to a centre broker that knows bridge-S1: the
# station's topics arrive there under evcs/v1/stations/S1/ and the API's requests come
# back; a second run (the settings from bridge.env) changes nothing; a new password is
# taken by the next run; with --centre-ca the bridge goes over TLS to a centre listener of
# that authority; systemd-analyze verifies the broker's unit with its drop-in.
#   deploy_bridge.sh SOURCE_DIR BUILD_DIR
# Exit 77 (skipped) without systemd-analyze (deploy/install-deps.sh installs it).
set -euo pipefail
src=$1
build=$2
# shellcheck source=tests/cli/deploy_lib.sh
. "$src/tests/cli/deploy_lib.sh"  # and broker_lib.sh; exit 77 without systemd-analyze
dir=$(mktemp -d)
broker_pid="" centre_pid="" watch_pid=""
service_pids=()
cleanup() {
    for p in $broker_pid $centre_pid $watch_pid ${tls_pid:-}; do kill "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
root=$dir/root
etc=$root/etc/evcs
creds=$etc/credentials
fake_systemctl "$dir"

# ---- the centre: a broker that knows the station's bridge ---------------------------------
cport=$(free_port)
mkdir -p "$dir/centre"
bridge_pw=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
mosquitto_passwd -c -b "$dir/centre/passwd" bridge-S1 "$bridge_pw" 2>/dev/null
mosquitto_passwd -b "$dir/centre/passwd" watcher pw-watcher 2>/dev/null
printf '%s\n' "listener $cport 127.0.0.1" "allow_anonymous false" \
    "password_file $dir/centre/passwd" "persistence false" "log_type all" >"$dir/centre/mosquitto.conf"
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then  # mosquitto drops to its user
    chown -R mosquitto "$dir/centre"
    chmod a+x "$dir"
fi
mosquitto -c "$dir/centre/mosquitto.conf" >"$dir/centre/log" 2>&1 &
centre_pid=$!
install() { "$src/deploy/install-systemd.sh" --root "$root" "$@" "$build"; }

# ---- without the bridge's password: nothing written -----------------------------------------
if out=$(install --station S1 --centre "127.0.0.1:$cport" 2>&1); then
    fail "the install went on without the bridge's password"
else
    case "$out" in
        *"bridge.mqtt is missing"*"bridge-S1.mqtt"*) ok "without the bridge's password the install stops and says where it comes from" ;;
        *) fail "the install's refusal does not say what is missing: $out" ;;
    esac
fi
[ -z "$(find "$root" -type f 2>/dev/null)" ] && ok "it stopped before writing a file" ||
    fail "it wrote $(find "$root" -type f | head -3)"
install --station S1 --centre "127.0.0.1:$cport" --station-typo 2>/dev/null &&
    fail "an unknown option was accepted" || ok "an unknown option is refused"
install --station S1 2>/dev/null && fail "--station without --centre was accepted" ||
    ok "--station without --centre is refused"

# ---- with it -------------------------------------------------------------------------------
mkdir -p "$creds"
chmod 700 "$creds"
(umask 077 && echo "$bridge_pw" >"$creds/bridge.mqtt")
out=$(install --dry-run --station S1 --centre "127.0.0.1:$cport" 2>&1) || fail "--dry-run failed: $out"
case "$out" in
    *"would write $creds/bridge.conf (0600, root): the bridge to 127.0.0.1:$cport as bridge-S1"*) ok "--dry-run says it would write the bridge's credential" ;;
    *) fail "--dry-run does not say the bridge: $out" ;;
esac
[ ! -e "$creds/bridge.conf" ] || fail "--dry-run wrote the bridge's credential"
if out=$(install --station S1 --centre "127.0.0.1:$cport" 2>&1); then ok "the install with a bridge succeeds"; else fail "the install failed: $out"; fi
[ "$(stat -c %a "$creds/bridge.conf" 2>/dev/null)" = 600 ] && grep -qxF "remote_password $bridge_pw" "$creds/bridge.conf" &&
    grep -qxF "remote_username bridge-S1" "$creds/bridge.conf" && grep -qxF "address 127.0.0.1:$cport" "$creds/bridge.conf" &&
    ok "the bridge's section with its account and password is the credential bridge.conf (0600)" ||
    fail "credentials/bridge.conf: $(stat -c %a "$creds/bridge.conf" 2>&1)"
grep -qxF "include_dir /run/credentials/evcs-broker.service" "$etc/mosquitto.conf" &&
    ok "mosquitto.conf includes it from the broker's credentials" || fail "mosquitto.conf does not include the bridge"
grep -qxF "LoadCredential=bridge.conf:/etc/evcs/credentials/bridge.conf" \
    "$root/etc/systemd/system/evcs-broker.service.d/bridge.conf" 2>/dev/null &&
    ok "evcs-broker.service's drop-in loads it" || fail "no drop-in loads the bridge's credential"
grep -qxF "EVCS_CENTRE=127.0.0.1:$cport" "$etc/bridge.env" && grep -qxF "EVCS_STATION=S1" "$etc/bridge.env" &&
    ok "bridge.env keeps the station and the centre" || fail "bridge.env: $(cat "$etc/bridge.env" 2>&1)"
check_credentials "$root"
check_no_secret "$root"

# ---- the broker as installed, bridged --------------------------------------------------------
start_station_broker "$root" "$dir"
scheduler_pw=$(head -n 1 "$creds/scheduler.mqtt")
for _ in $(seq 100); do grep -q "as bridge-S1" "$dir/centre/log" && break; sleep 0.1; done
grep -q "as bridge-S1" "$dir/centre/log" && ok "the station's broker logs in at the centre as bridge-S1" ||
    fail "the bridge did not log in: $(tail -n 5 "$dir/broker/log")"
mosquitto_sub -h 127.0.0.1 -p "$cport" -u watcher -P pw-watcher -q 1 -t 'evcs/v1/stations/S1/station/clock' \
    -C 1 -W 15 >"$dir/out.txt" 2>&1 &
watch_pid=$!
sleep 0.5  # the subscription is made
mosquitto_pub -h 127.0.0.1 -p "$port" -i scheduler -u scheduler -P "$scheduler_pw" -q 1 \
    -t evcs/v1/station/clock -m tick-from-S1
wait "$watch_pid" || true
watch_pid=""
[ "$(cat "$dir/out.txt")" = tick-from-S1 ] && ok "the station's clock arrives at the centre under evcs/v1/stations/S1/" ||
    fail "the centre did not get the station's topic: $(cat "$dir/out.txt")"
mosquitto_sub -h 127.0.0.1 -p "$port" -i scheduler -u scheduler -P "$scheduler_pw" -q 1 \
    -t evcs/v1/scheduler/requests -C 1 -W 15 >"$dir/in.txt" 2>&1 &
watch_pid=$!
sleep 0.5
mosquitto_pub -h 127.0.0.1 -p "$cport" -u watcher -P pw-watcher -q 1 \
    -t evcs/v1/stations/S1/scheduler/requests -m request-from-centre
wait "$watch_pid" || true
watch_pid=""
[ "$(cat "$dir/in.txt")" = request-from-centre ] && ok "a request made at the centre reaches the station's scheduler" ||
    fail "the station did not get the centre's request: $(cat "$dir/in.txt")"
kill "$broker_pid" 2>/dev/null || true
wait "$broker_pid" 2>/dev/null || true
broker_pid=""

# ---- again, and a new password ---------------------------------------------------------------
before=$(etc_sums "$root")
if out=$(install 2>&1); then ok "a second install (the bridge from bridge.env) succeeds"; else fail "a second install failed: $out"; fi
[ "$(etc_sums "$root")" = "$before" ] && ok "a second install changes nothing" ||
    fail "a second install changed: $(diff <(echo "$before") <(etc_sums "$root"))"
new_pw=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
(umask 077 && echo "$new_pw" >"$creds/bridge.mqtt")
install >/dev/null 2>&1 || fail "the install after a new bridge password failed"
grep -qxF "remote_password $new_pw" "$creds/bridge.conf" && ! grep -qF "$bridge_pw" "$creds/bridge.conf" &&
    ok "a new bridge password is taken by the next run" || fail "the new bridge password was not taken"
(umask 077 && echo 'not a password' >"$creds/bridge.mqtt")
install >/dev/null 2>&1 && fail "a password mosquitto cannot read from its configuration was accepted" ||
    ok "a password with a blank is refused"

# ---- TLS to the centre (--centre-ca) ----------------------------------------------------------
# A centre listener with a certificate of a test authority for 127.0.0.1.
tls_authority "$dir/centre"
tls_certificate "$dir/centre" tls IP:127.0.0.1
tport=$(free_port)
mosquitto_passwd -b "$dir/centre/passwd" bridge-S1 "$new_pw" 2>/dev/null
printf '%s\n' "listener $tport 127.0.0.1" "certfile $dir/centre/tls.pem" "keyfile $dir/centre/tls.key" \
    "allow_anonymous false" "password_file $dir/centre/passwd" "persistence false" "log_type all" \
    >"$dir/centre/tls.conf"
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then chown -R mosquitto "$dir/centre"; fi
mosquitto -c "$dir/centre/tls.conf" >"$dir/centre/tls.log" 2>&1 &
tls_pid=$!
(umask 077 && echo "$new_pw" >"$creds/bridge.mqtt")
if out=$(install --station S1 --centre "127.0.0.1:$tport" --centre-ca "$dir/centre/ca.pem" 2>&1); then
    ok "the install with --centre-ca succeeds"
else
    fail "the install with --centre-ca failed: $out"
fi
[ "$(stat -c %a "$etc/centre-ca.pem" 2>/dev/null)" = 644 ] && grep -qxF "bridge_cafile /etc/evcs/centre-ca.pem" "$creds/bridge.conf" &&
    ok "the centre's authority is installed and the bridge checks the centre against it" ||
    fail "centre-ca.pem $(stat -c %a "$etc/centre-ca.pem" 2>&1), bridge.conf: $(grep bridge_ "$creds/bridge.conf")"
start_station_broker "$root" "$dir"
for _ in $(seq 100); do grep -q "as bridge-S1" "$dir/centre/tls.log" && break; sleep 0.1; done
mosquitto_sub -h 127.0.0.1 -p "$tport" --cafile "$dir/centre/ca.pem" -u watcher -P pw-watcher -q 1 \
    -t 'evcs/v1/stations/S1/station/clock' -C 1 -W 15 >"$dir/tls.txt" 2>&1 &
watch_pid=$!
sleep 0.5
mosquitto_pub -h 127.0.0.1 -p "$port" -i scheduler -u scheduler -P "$scheduler_pw" -q 1 \
    -t evcs/v1/station/clock -m tick-over-tls
wait "$watch_pid" || true
watch_pid=""
grep -q "as bridge-S1" "$dir/centre/tls.log" && [ "$(cat "$dir/tls.txt")" = tick-over-tls ] &&
    ok "the bridge logs in over TLS and the station's topics cross" ||
    fail "no bridge over TLS: $(cat "$dir/tls.txt"); $(grep -i "bridge\|error" "$dir/broker/log" | tail -n 3)"
kill "$broker_pid" "$tls_pid" 2>/dev/null || true
wait "$broker_pid" 2>/dev/null || true
broker_pid=""
install --centre-ca "$dir/centre/ca.pem" --station S1 >/dev/null 2>&1 &&
    fail "--centre-ca with --station alone was accepted" || ok "--centre-ca needs --station and --centre"

verify_units "$root" "$dir/units" evcs-broker.service

echo "$fails failure(s)"
[ "$fails" = 0 ]
