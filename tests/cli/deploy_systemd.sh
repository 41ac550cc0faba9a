#!/usr/bin/env bash
# "check && ok || fail": ok only prints; '$7$' is the hash prefix, not an expansion.
# shellcheck disable=SC2015,SC2016
# The systemd deployment (issue #12, docs/operations.md) without a running systemd:
# deploy/install-systemd.sh into a temporary root (--dry-run first: nothing written), the
# files and their modes, secrets only in 0600 credential files (never in an environment
# file or a unit), each credential a unit loads present and each NAME_FILE a unit sets
# read by its binary, only hashes in the broker's password file, the generated
# mosquitto.conf accepted by mosquitto and every generated password logging in, the
# scheduler, the API and the pile simulator run as their units say (tests/tools/run_unit.py:
# credentials, environment files, ExecStart) logging in with their credentials, a second
# run changing nothing, an edited setting kept, a missing account added, a lost secret
# refused rather than overwritten, an optional credential's drop-in installed and removed
# with its file, never a systemctl call; then `systemd-analyze verify` and
# `systemd-analyze security --offline` (exposure at most 2.0) on the installed units and the
# TLS drop-in, with ExecStart pointing into the root.
#   deploy_systemd.sh SOURCE_DIR BUILD_DIR
# Exit 77 (skipped) without systemd-analyze (deploy/install-deps.sh installs it).
set -euo pipefail
src=$1
build=$2
# shellcheck source=tests/cli/deploy_lib.sh
. "$src/tests/cli/deploy_lib.sh"  # and broker_lib.sh; exit 77 without systemd-analyze
dir=$(mktemp -d)
broker_pid=""
service_pids=()
cleanup() {
    for p in "${service_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -z "$broker_pid" ] || kill "$broker_pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
root=$dir/root
etc=$root/etc/evcs
creds=$etc/credentials
# Any systemctl call fails the test: with --root nothing may touch the running system.
fake_systemctl "$dir"
install() { "$src/deploy/install-systemd.sh" --root "$root" "$@" "$build"; }

# ---- --dry-run: says everything, writes nothing -------------------------------------------
if out=$(install --dry-run 2>&1); then
    ok "--dry-run succeeds"
else
    fail "--dry-run failed: $out"
fi
[ ! -e "$root" ] && ok "--dry-run wrote nothing" || fail "--dry-run wrote $(find "$root" | head -5)"
for want in "evcs-scheduler.service" "evcs-api.service" "evcs-broker.service" "evcs-gateway.service" \
    "evcs-pile-sim.service" "evcs.target" "station-api (0755)" "credentials/scheduler.mqtt (0600, root)" \
    "credentials/api.admin (0600, root)" "would add broker accounts to $creds/broker.passwd" \
    "would add the passwords of piles F1 F2 T1 T2 T3 to $creds/piles.passwords" \
    "scheduler api monitor F1 F2 T1 T2 T3"; do
    case "$out" in
        *"$want"*) ;;
        *) fail "--dry-run does not say $want" ;;
    esac
done

# ---- the install --------------------------------------------------------------------------
if out=$(install 2>&1); then ok "the install succeeds"; else fail "the install failed: $out"; fi
mode_of() { stat -c %a "$1" 2>/dev/null || echo missing; }
expect_mode() {
    local file=$1 want=$2 got
    got=$(mode_of "$file")
    [ "$got" = "$want" ] || fail "${file#"$root"} is $got, not $want"
}
for b in station-scheduler station-api station-db-copy station-gateway station-pile-sim station-replay; do
    expect_mode "$root/usr/local/bin/$b" 755
done
for u in evcs-broker.service evcs-scheduler.service evcs-api.service evcs-gateway.service \
    evcs-pile-sim.service evcs.target; do
    expect_mode "$root/etc/systemd/system/$u" 644
done
expect_mode "$root/usr/local/share/evcs/web/admin/index.html" 644
expect_mode "$root/usr/local/share/evcs/systemd/evcs-gateway-tls.conf" 644
expect_mode "$root/usr/local/share/doc/evcs/operations.md" 644
expect_mode "$etc" 755
for f in station.env api.env mosquitto.conf evcs.acl; do expect_mode "$etc/$f" 644; done
expect_mode "$creds" 700
for f in broker.passwd scheduler.mqtt api.mqtt api.admin piles.passwords monitor.mqtt; do expect_mode "$creds/$f" 600; done
[ "$(stat -c %u "$creds/broker.passwd")" = "$(id -u)" ] || fail "broker.passwd is not the installer's (root's)"
leftover=$(cd "$etc" && ls -d scheduler.env piles.env gateway.env broker.passwd monitor.password \
    credentials/piles.mqtt 2>/dev/null || true)
[ -z "$leftover" ] || fail "files of before the credentials were made: $leftover"
ok "binaries, units, web console, settings and secrets installed with their modes"
for user in evcs-broker evcs-scheduler evcs-api evcs-gateway evcs-pile-sim; do
    grep -q "^$user:" "$root/etc/passwd" || fail "no system user $user in the root's /etc/passwd"
done
ok "the system users are made in the root (systemd-sysusers --root)"

password_of() { head -n 1 "$creds/$1"; }
pile_password() { sed -n "s/^$1 //p" "$creds/piles.passwords"; }
scheduler_pw=$(password_of scheduler.mqtt)
api_pw=$(password_of api.mqtt)
monitor_pw=$(password_of monitor.mqtt)
f1_pw=$(pile_password F1)
t3_pw=$(pile_password T3)
for pw in "$scheduler_pw" "$api_pw" "$monitor_pw" "$(password_of api.admin)" "$f1_pw" "$t3_pw"; do
    [ "${#pw}" -ge 24 ] || fail "a generated password is short or missing: ${#pw} characters"
done
[ "$(cut -d' ' -f1 "$creds/piles.passwords" | tr '\n' ' ')" = "F1 F2 T1 T2 T3 " ] ||
    fail "piles.passwords names: $(cut -d' ' -f1 "$creds/piles.passwords" | tr '\n' ' ')"
[ "$(cut -d' ' -f2 "$creds/piles.passwords" | sort -u | wc -l)" = 5 ] && [ "$scheduler_pw" != "$api_pw" ] &&
    [ "$api_pw" != "$f1_pw" ] || fail "two accounts share a password"
grep -qx 'STATION_ADMIN_ACCOUNT=admin@station.local' "$etc/api.env" || fail "api.env names no first admin"
accounts=$(cut -d: -f1 "$creds/broker.passwd" | tr '\n' ' ')
[ "$accounts" = "scheduler api monitor F1 F2 T1 T2 T3 " ] || fail "broker accounts: $accounts"
if grep -qv '^[^:]*:\$7\$' "$creds/broker.passwd"; then
    fail "the broker's password file holds something other than hashes"
fi
check_credentials "$root"
check_no_secret "$root"
check_binaries_read "$root" "$build"

# ---- the generated broker configuration, with the generated passwords ---------------------
# mosquitto.conf as installed, with only its port, password file (the credential's copy
# under systemd) and persistence folder moved into the test's folder.
start_station_broker "$root" "$dir"
pub() {  # pub USER PASSWORD TOPIC: one QoS 1 publication
    mosquitto_pub -h 127.0.0.1 -p "$port" -i "$1" -u "$1" -P "$2" -q 1 -t "$3" -m x 2>/dev/null
}
monitor_reads() {  # the monitor connects and reads until -W ends it (exit 27)
    local rc=0
    mosquitto_sub -h 127.0.0.1 -p "$port" -u monitor -P "$monitor_pw" -t 'evcs/v1/#' -W 1 \
        >/dev/null 2>&1 || rc=$?
    [ "$rc" = 27 ]
}
if pub scheduler "$scheduler_pw" evcs/v1/station/clock && pub api "$api_pw" evcs/v1/scheduler/requests &&
    pub F1 "$f1_pw" evcs/v1/piles/F1/telemetry && pub T3 "$t3_pw" evcs/v1/piles/T3/telemetry &&
    monitor_reads; then
    ok "the generated mosquitto.conf runs, and every generated password logs in"
else
    fail "a generated password was refused by the generated configuration: $(cat "$dir/broker/log")"
fi
pub scheduler wrong-password evcs/v1/station/clock && fail "a wrong password was accepted" ||
    ok "a wrong password is refused"
pub T3 "$f1_pw" evcs/v1/piles/T3/telemetry && fail "a pile logged in with another pile's password" ||
    ok "a pile's password opens no other pile's account"
mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t evcs/v1/station/clock -m x 2>/dev/null &&
    fail "an anonymous client was accepted" || ok "an anonymous client is refused"

# ---- the services as their units run them, on that broker ---------------------------------
# (tests/tools/run_unit.py: the unit's credentials, environment files and ExecStart; only
# the broker's address, the state folder and the ports moved to the test's.)
log_from=$(($(wc -l <"$dir/broker/log") + 1))  # the broker's log lines from here on
start_unit "$root" "$dir" evcs-scheduler.service "$dir/scheduler.log" --set EVCS_SCHEDULER_ARGS=
start_unit "$root" "$dir" evcs-api.service "$dir/api.log" \
    --set "EVCS_API_ARGS=--host 127.0.0.1 --port 0 --port-file $dir/api.port"
start_unit "$root" "$dir" evcs-pile-sim.service "$dir/pile-sim.log"
logged_in() { grep -q "u'$1')" "$dir/broker/log"; }
for _ in $(seq 200); do
    logged_in scheduler && logged_in api && logged_in F1 && logged_in T3 && [ -s "$dir/api.port" ] && break
    sleep 0.1
done
grep -q 'connected to the broker' "$dir/scheduler.log" && logged_in scheduler &&
    ok "evcs-scheduler.service logs in with its credential" ||
    fail "the scheduler did not log in: $(tail -n 3 "$dir/scheduler.log")"
logged_in F1 && logged_in T3 && ok "evcs-pile-sim.service logs every pile in with its own password from the credential" ||
    fail "the piles did not log in: $(tail -n 3 "$dir/pile-sim.log")"
if logged_in api && [ -s "$dir/api.port" ]; then
    login=$(admin_login "$(cat "$dir/api.port")" "$(sed -n 's/^STATION_ADMIN_ACCOUNT=//p' "$etc/api.env")" \
        "$creds/api.admin")
    [ "$login" = 0 ] && ok "evcs-api.service logs in with its credential; its first admin with api.admin's password" ||
        fail "the first admin's login: $login"
else
    fail "the API did not log in or serve: $(tail -n 3 "$dir/api.log")"
fi
refused=$(tail -n +"$log_from" "$dir/broker/log" | grep 'not authorised' || true)
[ -z "$refused" ] || fail "a service was refused: $refused"
for p in "${service_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
service_pids=()
# The gateway, with a chargers file of the operator's: it logs its charger's pile in.
(umask 077 && printf '%s\n' '{"chargers": [{"identity": "CP-T1", "password": "secret-cp1-pass",' \
    '"connectors": [{"connector": 1, "pile": "T1", "mode": "T", "power_kw": 7}]}]}' >"$etc/chargers.json")
log_from=$(($(wc -l <"$dir/broker/log") + 1))
start_unit "$root" "$dir" evcs-gateway.service "$dir/gateway.log" --set "EVCS_GATEWAY_ARGS=--host 127.0.0.1 --port 0"
for _ in $(seq 100); do tail -n +"$log_from" "$dir/broker/log" | grep -q "u'T1')" && break; sleep 0.1; done
tail -n +"$log_from" "$dir/broker/log" | grep -q "u'T1')" &&
    ok "evcs-gateway.service logs its charger's pile in with that pile's credential" ||
    fail "the gateway did not log T1 in: $(tail -n 3 "$dir/gateway.log")"
for p in "${service_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
service_pids=()
rm "$etc/chargers.json"
kill "$broker_pid" 2>/dev/null || true
wait "$broker_pid" 2>/dev/null || true
broker_pid=""

# ---- again: idempotent, settings and secrets kept -------------------------------------------
sums() { (cd "$etc" && find . -type f -printf '%p %m ' -exec sha256sum {} \; | sort); }
before=$(sums)
if out=$(install 2>&1); then ok "a second install succeeds"; else fail "a second install failed: $out"; fi
[ "$(sums)" = "$before" ] && ok "a second install changes nothing in /etc/evcs" ||
    fail "a second install changed /etc/evcs: $(diff <(echo "$before") <(sums))"

echo "# the operator's note" >>"$etc/station.env"
edited=$(sha256sum <"$etc/station.env")
install >/dev/null 2>&1 || fail "an install over an edited station.env failed"
[ "$(sha256sum <"$etc/station.env")" = "$edited" ] && [ -f "$etc/station.env.new" ] &&
    ok "an edited setting is kept, the new version written beside it (station.env.new)" ||
    fail "an edited station.env was replaced or no station.env.new written"

# A pile's account lost from the password file (or a pile new in the profile) is added
# with the piles' password; nothing else changes.
sed -i '/^F2:/d' "$creds/broker.passwd"
others=$(grep -v '^F2:' "$creds/broker.passwd")
install >/dev/null 2>&1 || fail "an install with an account missing failed"
if grep -q '^F2:\$7\$' "$creds/broker.passwd" && [ "$(grep -v '^F2:' "$creds/broker.passwd")" = "$others" ] &&
    [ "$(pile_password F1)" = "$f1_pw" ]; then
    ok "a missing pile account is added with its own password, the others untouched"
else
    fail "the missing account was not added as it should be"
fi

# A secret lost while its account stays: refused, nothing overwritten.
mv "$creds/scheduler.mqtt" "$dir/scheduler.mqtt.saved"
passwd_before=$(sha256sum <"$creds/broker.passwd")
if out=$(install 2>&1); then
    fail "an install without scheduler.mqtt but with its account succeeded"
else
    case "$out" in
        *"scheduler.mqtt is missing but"*) ok "a lost secret stops the install with the reason" ;;
        *) fail "a lost secret stopped the install without the reason: $out" ;;
    esac
fi
[ ! -e "$creds/scheduler.mqtt" ] && [ "$(sha256sum <"$creds/broker.passwd")" = "$passwd_before" ] ||
    fail "the refused install changed a secret"
mv "$dir/scheduler.mqtt.saved" "$creds/scheduler.mqtt"

# An optional credential (the token key) gets its drop-in while its file exists.
jwt_dropin=$root/etc/systemd/system/evcs-api.service.d/jwt.conf
(umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$creds/api.jwt")
install >/dev/null 2>&1 || fail "an install with api.jwt failed"
[ -f "$jwt_dropin" ] && grep -qx 'Environment=STATION_JWT_SECRET_FILE=%d/jwt' "$jwt_dropin" ||
    fail "no drop-in for api.jwt"
check_credentials "$root"
check_binaries_read "$root" "$build"
rm "$creds/api.jwt"
install >/dev/null 2>&1 || fail "an install after removing api.jwt failed"
[ ! -e "$jwt_dropin" ] && ok "the token key's drop-in is installed while api.jwt exists, removed with it" ||
    fail "the drop-in for api.jwt stayed after the file was removed"

[ ! -e "$dir/systemctl.calls" ] && ok "no systemctl call with --root" ||
    fail "systemctl was called: $(cat "$dir/systemctl.calls")"

# ---- systemd-analyze on the installed units, every optional drop-in in place ---------------
# The optional credentials' drop-ins (made by the installer) and the TLS drop-in (copied by
# the operator as the runbook says); copies whose ExecStart paths point into the root
# (verify checks that they are executables); anything verify prints is a finding.
for f in api.jwt api.pgpass gateway.vendor-mqtt; do
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$creds/$f")
done
install >/dev/null 2>&1 || fail "an install with every optional credential failed"
check_credentials "$root"
check_no_secret "$root"
check_binaries_read "$root" "$build"
cp "$root/usr/local/share/evcs/systemd/evcs-gateway-tls.conf" "$root/etc/systemd/system/evcs-gateway.service.d/tls.conf"
verify_units "$root" "$dir/units" evcs-broker.service evcs-scheduler.service evcs-api.service \
    evcs-gateway.service evcs-pile-sim.service evcs.target
for u in "$dir/units"/*.service; do
    if report=$(systemd-analyze security --offline=yes --threshold=20 --no-pager "$u" 2>&1); then
        ok "$(basename "$u"): $(echo "$report" | grep -o 'exposure level.*' | head -n 1)"
    else
        fail "$(basename "$u") is exposed above 2.0: $(echo "$report" | grep -E '✗|Overall')"
    fi
done

echo "$fails failure(s)"
[ "$fails" = 0 ]
