#!/usr/bin/env bash
# "check && ok || fail": ok only prints; '$7$' is the hash prefix, not an expansion.
# shellcheck disable=SC2015,SC2016
# The systemd deployment (issue #12, docs/operations.md) without a running systemd:
# deploy/install-systemd.sh into a temporary root (--dry-run first: nothing written), the
# files and their modes, secrets only in 0600 files and only hashes in the broker's
# password file, the generated mosquitto.conf accepted by mosquitto and every generated
# password logging in, a second run changing nothing, an edited setting kept, a missing
# account added, a lost secret refused rather than overwritten, never a systemctl call;
# then `systemd-analyze verify` and `systemd-analyze security --offline` (exposure at most
# 2.0) on the installed units and the TLS drop-in, with ExecStart pointing into the root.
#   deploy_systemd.sh SOURCE_DIR BUILD_DIR
# Exit 77 (skipped) without systemd-analyze (deploy/install-deps.sh installs it).
set -euo pipefail
src=$1
build=$2
# shellcheck source=tests/cli/broker_lib.sh
. "$src/tests/cli/broker_lib.sh"
command -v systemd-analyze >/dev/null || { echo "systemd-analyze is missing: skipped"; exit 77; }
dir=$(mktemp -d)
broker_pid=""
cleanup() {
    [ -z "$broker_pid" ] || kill "$broker_pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
root=$dir/root
etc=$root/etc/evcs
# Any systemctl call fails the test: with --root nothing may touch the running system.
mkdir -p "$dir/bin"
printf '#!/bin/sh\necho "$*" >>"%s/systemctl.calls"\nexit 1\n' "$dir" >"$dir/bin/systemctl"
chmod +x "$dir/bin/systemctl"
export PATH="$dir/bin:$PATH"
install() { "$src/deploy/install-systemd.sh" --root "$root" "$@" "$build"; }

# ---- --dry-run: says everything, writes nothing -------------------------------------------
if out=$(install --dry-run 2>&1); then
    ok "--dry-run succeeds"
else
    fail "--dry-run failed: $out"
fi
[ ! -e "$root" ] && ok "--dry-run wrote nothing" || fail "--dry-run wrote $(find "$root" | head -5)"
for want in "evcs-scheduler.service" "evcs-api.service" "evcs-broker.service" "evcs-gateway.service" \
    "evcs-pile-sim.service" "evcs.target" "station-api (0755)" "scheduler.env (0600, root)" \
    "would add broker accounts to $etc/broker.passwd" "scheduler api monitor F1 F2 T1 T2 T3"; do
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
for b in station-scheduler station-api station-gateway station-pile-sim station-replay; do
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
for f in station.env mosquitto.conf evcs.acl; do expect_mode "$etc/$f" 644; done
for f in broker.passwd scheduler.env api.env piles.env monitor.password; do expect_mode "$etc/$f" 600; done
[ "$(stat -c %u "$etc/broker.passwd")" = "$(id -u)" ] || fail "broker.passwd is not the installer's (root's)"
ok "binaries, units, web console, settings and secrets installed with their modes"
for user in evcs-broker evcs-scheduler evcs-api evcs-gateway evcs-pile-sim; do
    grep -q "^$user:" "$root/etc/passwd" || fail "no system user $user in the root's /etc/passwd"
done
ok "the system users are made in the root (systemd-sysusers --root)"

password_of() { sed -n 's/^STATION_MQTT_PASSWORD=//p' "$etc/$1"; }
scheduler_pw=$(password_of scheduler.env)
api_pw=$(password_of api.env)
piles_pw=$(password_of piles.env)
monitor_pw=$(head -n 1 "$etc/monitor.password")
for pw in "$scheduler_pw" "$api_pw" "$piles_pw" "$monitor_pw"; do
    [ "${#pw}" -ge 24 ] || fail "a generated password is short or missing: ${#pw} characters"
done
[ "$scheduler_pw" != "$api_pw" ] && [ "$api_pw" != "$piles_pw" ] || fail "two accounts share a password"
grep -q '^STATION_ADMIN_PASSWORD=.\{16,\}' "$etc/api.env" || fail "api.env has no admin password"
accounts=$(cut -d: -f1 "$etc/broker.passwd" | tr '\n' ' ')
[ "$accounts" = "scheduler api monitor F1 F2 T1 T2 T3 " ] || fail "broker accounts: $accounts"
if grep -qv '^[^:]*:\$7\$' "$etc/broker.passwd"; then
    fail "the broker's password file holds something other than hashes"
fi
leaks=$(grep -rlF -e "$scheduler_pw" -e "$api_pw" -e "$piles_pw" -e "$monitor_pw" "$root" |
    grep -v -e '/scheduler.env$' -e '/api.env$' -e '/piles.env$' -e '/monitor.password$' || true)
[ -z "$leaks" ] && ok "the passwords are only in their 0600 files" || fail "a password is in: $leaks"

# ---- the generated broker configuration, with the generated passwords ---------------------
# mosquitto.conf as installed, with only its port, password file (the credential's copy
# under systemd) and persistence folder moved into the test's folder.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$dir/broker/data"
cp "$etc/broker.passwd" "$dir/broker/passwd"
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then  # mosquitto drops to its user
    chown mosquitto "$dir/broker/data" "$dir/broker/passwd"
    chmod a+x "$dir" "$dir/broker"
    chmod a+r "$etc/evcs.acl"
    chmod a+x "$root" "$root/etc" "$etc"
fi
sed -e "s|^listener 1883 127.0.0.1$|listener $port 127.0.0.1|" \
    -e "s|^password_file .*|password_file $dir/broker/passwd|" \
    -e "s|^acl_file /etc/evcs/evcs.acl$|acl_file $etc/evcs.acl|" \
    -e "s|^persistence_location .*|persistence_location $dir/broker/data/|" \
    "$etc/mosquitto.conf" >"$dir/broker/mosquitto.conf"
chmod 644 "$dir/broker/mosquitto.conf"
mosquitto -c "$dir/broker/mosquitto.conf" >"$dir/broker/log" 2>&1 &
broker_pid=$!
for _ in $(seq 50); do
    python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null && break
    sleep 0.1
done
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
    pub F1 "$piles_pw" evcs/v1/piles/F1/telemetry && pub T3 "$piles_pw" evcs/v1/piles/T3/telemetry &&
    monitor_reads; then
    ok "the generated mosquitto.conf runs, and every generated password logs in"
else
    fail "a generated password was refused by the generated configuration: $(cat "$dir/broker/log")"
fi
pub scheduler wrong-password evcs/v1/station/clock && fail "a wrong password was accepted" ||
    ok "a wrong password is refused"
mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t evcs/v1/station/clock -m x 2>/dev/null &&
    fail "an anonymous client was accepted" || ok "an anonymous client is refused"
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
sed -i '/^F2:/d' "$etc/broker.passwd"
others=$(grep -v '^F2:' "$etc/broker.passwd")
install >/dev/null 2>&1 || fail "an install with an account missing failed"
if grep -q '^F2:\$7\$' "$etc/broker.passwd" && [ "$(grep -v '^F2:' "$etc/broker.passwd")" = "$others" ] &&
    [ "$(password_of piles.env)" = "$piles_pw" ]; then
    ok "a missing pile account is added with the piles' password, the others untouched"
else
    fail "the missing account was not added as it should be"
fi

# A secret lost while its account stays: refused, nothing overwritten.
mv "$etc/scheduler.env" "$dir/scheduler.env.saved"
passwd_before=$(sha256sum <"$etc/broker.passwd")
if out=$(install 2>&1); then
    fail "an install without scheduler.env but with its account succeeded"
else
    case "$out" in
        *"scheduler.env is missing but"*) ok "a lost secret stops the install with the reason" ;;
        *) fail "a lost secret stopped the install without the reason: $out" ;;
    esac
fi
[ ! -e "$etc/scheduler.env" ] && [ "$(sha256sum <"$etc/broker.passwd")" = "$passwd_before" ] ||
    fail "the refused install changed a secret"
mv "$dir/scheduler.env.saved" "$etc/scheduler.env"

[ ! -e "$dir/systemctl.calls" ] && ok "no systemctl call with --root" ||
    fail "systemctl was called: $(cat "$dir/systemctl.calls")"

# ---- systemd-analyze on the installed units ---------------------------------------------------
# A copy whose ExecStart paths point into the root (verify checks that they are
# executables), with the TLS drop-in in place; anything verify prints is a finding.
units=$dir/units
mkdir -p "$units/evcs-gateway.service.d"
for u in "$root"/etc/systemd/system/evcs*; do
    sed "s|/usr/local/|$root/usr/local/|g" "$u" >"$units/$(basename "$u")"
done
cp "$root/usr/local/share/evcs/systemd/evcs-gateway-tls.conf" "$units/evcs-gateway.service.d/tls.conf"
if verify=$(cd "$units" && systemd-analyze verify --man=no ./*.service ./evcs.target 2>&1) && [ -z "$verify" ]; then
    ok "systemd-analyze verify: the units and the TLS drop-in are clean"
else
    fail "systemd-analyze verify: $verify"
fi
for u in "$units"/*.service; do
    if report=$(systemd-analyze security --offline=yes --threshold=20 --no-pager "$u" 2>&1); then
        ok "$(basename "$u"): $(echo "$report" | grep -o 'exposure level.*' | head -n 1)"
    else
        fail "$(basename "$u") is exposed above 2.0: $(echo "$report" | grep -E '✗|Overall')"
    fi
done

echo "$fails failure(s)"
[ "$fails" = 0 ]
