#!/usr/bin/env bash
# "check && ok || fail": ok only prints.
# shellcheck disable=SC2015
# An install of before the credentials, upgraded by deploy/install-systemd.sh (issue #12;
# docs/operations.md, "Upgrade"), without a running systemd. The old layout is made as the
# installer of before made it: secrets in 0600 environment files (scheduler.env, api.env
# with the first admin and a token key, piles.env, gateway.env with a vendor broker's
# password), /etc/evcs/broker.passwd with their hashes and monitor.password; an operator's
# own setting in scheduler.env and admin account in api.env. Checks: --dry-run changes
# nothing; the upgrade moves every secret into its credential file unchanged (the broker's
# hashes byte for byte), leaves no secret in an environment file, keeps the operator's
# settings (an env file left without one is removed), installs the drop-ins of the token
# key and the vendor password; the units verify; the moved passwords log in to the
# upgraded broker as the units run the services (the scheduler, and the API's first admin
# with the old password); a second run changes nothing; and a secret found in both an env
# file and its credential file with another value stops the upgrade, changing nothing.
#   deploy_upgrade.sh SOURCE_DIR BUILD_DIR
# Exit 77 (skipped) without systemd-analyze.
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
fake_systemctl "$dir"
install() { "$src/deploy/install-systemd.sh" --root "$1" "${@:2}" "$build"; }
new_pw() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }

# old_install ROOT: today's install made into the layout of before the credentials, with
# the passwords below (settings, units and binaries as installed: the upgrade replaces
# units and binaries anyway).
scheduler_pw=$(new_pw) api_pw=$(new_pw) piles_pw=$(new_pw) monitor_pw=$(new_pw)
admin_pw=$(new_pw) jwt=$(new_pw)$(new_pw) vendor_pw=$(new_pw)
old_install() {
    local root=$1 etc=$1/etc/evcs
    install "$root" >/dev/null 2>&1
    rm -rf "$etc/credentials" "$etc/api.env"
    (
        umask 077
        printf 'STATION_MQTT_PASSWORD=%s\nEVCS_OPERATOR_NOTE=kept\n' "$scheduler_pw" >"$etc/scheduler.env"
        # api.env as the installer of before wrote it, the admin account changed by the operator
        # and a token key set as the runbook of before said.
        printf '%s\n' "STATION_MQTT_PASSWORD=$api_pw" "STATION_ADMIN_ACCOUNT=ops@example.com" \
            "STATION_ADMIN_PASSWORD=$admin_pw" \
            "# STATION_JWT_SECRET (at least 32 characters) would replace the token key kept in the" \
            '# database (docs/operations.md, "Rotating secrets").' "STATION_JWT_SECRET=\"$jwt\"" >"$etc/api.env"
        printf 'STATION_MQTT_PASSWORD=%s\n' "$piles_pw" >"$etc/piles.env"
        printf 'STATION_VENDOR_MQTT_PASSWORD=%s\n' "$vendor_pw" >"$etc/gateway.env"
        printf '%s\n' "$monitor_pw" >"$etc/monitor.password"
        : >"$etc/broker.passwd"
        for a in scheduler:$scheduler_pw api:$api_pw monitor:$monitor_pw F1:$piles_pw F2:$piles_pw \
            T1:$piles_pw T2:$piles_pw T3:$piles_pw; do
            printf '%s\n' "$a" >>"$etc/broker.passwd"
        done
        mosquitto_passwd -U "$etc/broker.passwd"
    )
}
root=$dir/root
etc=$root/etc/evcs
creds=$etc/credentials
old_install "$root"
cp "$etc/broker.passwd" "$dir/broker.passwd.old"

# ---- --dry-run: changes nothing ---------------------------------------------------------------
before=$(etc_sums "$root")
if out=$(install "$root" --dry-run 2>&1); then ok "--dry-run of the upgrade succeeds"; else fail "--dry-run failed: $out"; fi
[ "$(etc_sums "$root")" = "$before" ] && [ ! -e "$creds" ] && ok "--dry-run of the upgrade changes nothing" ||
    fail "--dry-run changed: $(diff <(echo "$before") <(etc_sums "$root"))"
for want in "would move $etc/broker.passwd to $creds/broker.passwd" \
    "would remove STATION_MQTT_PASSWORD from $etc/scheduler.env" "would remove $etc/piles.env"; do
    [[ "$out" == *"$want"* ]] || fail "--dry-run does not say: $want"
done
[[ "$out" == *"would add broker accounts"* || "$out" == *"with a new password"* ]] &&
    fail "--dry-run of the upgrade would make new passwords: $out"

# ---- the upgrade --------------------------------------------------------------------------------
if out=$(install "$root" 2>&1); then ok "the upgrade succeeds"; else fail "the upgrade failed: $out"; fi
same() { [ "$(head -n 1 "$creds/$1")" = "$2" ] || fail "credentials/$1 does not hold the old $3"; }
same scheduler.mqtt "$scheduler_pw" "scheduler's password"
same api.mqtt "$api_pw" "API's password"
same api.admin "$admin_pw" "first admin's password"
same api.jwt "$jwt" "token key (its quotes removed)"
[ "$(cat "$creds/piles.passwords")" = "$(printf '%s\n' "F1 $piles_pw" "F2 $piles_pw" "T1 $piles_pw" "T2 $piles_pw" "T3 $piles_pw")" ] &&
    [ ! -e "$creds/piles.mqtt" ] || fail "piles.passwords does not give every pile the old piles' password"
same monitor.mqtt "$monitor_pw" "monitor's password"
same gateway.vendor-mqtt "$vendor_pw" "vendor broker's password"
cmp -s "$creds/broker.passwd" "$dir/broker.passwd.old" && [ ! -e "$etc/broker.passwd" ] &&
    [ ! -e "$etc/monitor.password" ] && ok "every secret moved into its credential unchanged, the broker's hashes too" ||
    fail "the broker's password file changed or the old files stayed"
[ ! -e "$etc/piles.env" ] && [ ! -e "$etc/gateway.env" ] &&
    [ "$(cat "$etc/scheduler.env")" = "EVCS_OPERATOR_NOTE=kept" ] &&
    ok "env files left without a setting removed, an operator's setting kept" ||
    fail "env files after the upgrade: $(cd "$etc" && ls ./*.env) scheduler.env: $(cat "$etc/scheduler.env" 2>&1)"
grep -qx 'STATION_ADMIN_ACCOUNT=ops@example.com' "$etc/api.env" && ! grep -q 'STATION_JWT_SECRET' "$etc/api.env" &&
    [ "$(stat -c %a "$etc/api.env")" = 600 ] &&
    ok "api.env keeps the operator's admin account (and its mode), without the token key's lines" ||
    fail "api.env after the upgrade: $(cat "$etc/api.env")"
[ -f "$root/etc/systemd/system/evcs-api.service.d/jwt.conf" ] &&
    [ -f "$root/etc/systemd/system/evcs-gateway.service.d/vendor.conf" ] &&
    ok "the token key's and the vendor password's drop-ins are installed" || fail "an optional drop-in is missing"
check_credentials "$root"
check_no_secret "$root"
check_binaries_read "$root" "$build"
verify_units "$root" "$dir/units" evcs-broker.service evcs-scheduler.service evcs-api.service \
    evcs-gateway.service evcs-pile-sim.service evcs.target

# ---- the moved passwords log in, as the units run the services ---------------------------------
start_station_broker "$root" "$dir"
start_unit "$root" "$dir" evcs-scheduler.service "$dir/scheduler.log" --set EVCS_SCHEDULER_ARGS=
start_unit "$root" "$dir" evcs-api.service "$dir/api.log" \
    --set "EVCS_API_ARGS=--host 127.0.0.1 --port 0 --port-file $dir/api.port"
start_unit "$root" "$dir" evcs-pile-sim.service "$dir/pile-sim.log"
for _ in $(seq 200); do
    grep -q 'connected to the broker' "$dir/scheduler.log" && grep -q "u'api')" "$dir/broker/log" &&
        grep -q "u'T3')" "$dir/broker/log" && [ -s "$dir/api.port" ] && break
    sleep 0.1
done
grep -q "u'F1')" "$dir/broker/log" && grep -q "u'T3')" "$dir/broker/log" &&
    ok "the upgraded piles log in with the one password of before, now each pile's line" ||
    fail "the upgraded piles did not log in: $(tail -n 3 "$dir/pile-sim.log")"
grep -q 'connected to the broker' "$dir/scheduler.log" &&
    ok "the upgraded scheduler logs in with its moved password (the broker's hash of before)" ||
    fail "the upgraded scheduler did not log in: $(tail -n 3 "$dir/scheduler.log")"
if [ -s "$dir/api.port" ] && grep -q "u'api')" "$dir/broker/log"; then
    login=$(admin_login "$(cat "$dir/api.port")" ops@example.com "$creds/api.admin")
    [ "$login" = 0 ] && ok "the upgraded API logs in; its first admin (the operator's account) with the moved password" ||
        fail "the first admin's login: $login"
else
    fail "the upgraded API did not log in or serve: $(tail -n 3 "$dir/api.log")"
fi
for p in "${service_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
service_pids=()
kill "$broker_pid" 2>/dev/null || true
wait "$broker_pid" 2>/dev/null || true
broker_pid=""

# ---- again: nothing changes -------------------------------------------------------------------
before=$(etc_sums "$root")
install "$root" >/dev/null 2>&1 || fail "a second run after the upgrade failed"
[ "$(etc_sums "$root")" = "$before" ] && ok "a second run after the upgrade changes nothing" ||
    fail "a second run changed: $(diff <(echo "$before") <(etc_sums "$root"))"

# ---- a secret in an env file and another in its credential: refused, nothing changed -----------
other=$dir/other
old_install "$other"
mkdir -m 700 "$other/etc/evcs/credentials"
(umask 077 && new_pw >"$other/etc/evcs/credentials/api.mqtt")
before=$(etc_sums "$other")
if out=$(install "$other" 2>&1); then
    fail "an upgrade with two different API passwords succeeded"
else
    [[ "$out" == *"api.env has STATION_MQTT_PASSWORD, and"*"holds another value"* ]] &&
        ok "a secret in both an env file and its credential, differing, stops the upgrade with the reason" ||
        fail "the conflict stopped the upgrade without the reason: $out"
fi
[ "$(etc_sums "$other")" = "$before" ] && grep -q "^STATION_MQTT_PASSWORD=$api_pw$" "$other/etc/evcs/api.env" &&
    ok "the refused upgrade changed nothing (no secret moved, none overwritten)" ||
    fail "the refused upgrade changed: $(diff <(echo "$before") <(etc_sums "$other"))"

[ ! -e "$dir/systemctl.calls" ] && ok "no systemctl call with --root" ||
    fail "systemctl was called: $(cat "$dir/systemctl.calls")"
echo "$fails failure(s)"
[ "$fails" = 0 ]
