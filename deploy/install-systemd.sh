#!/usr/bin/env bash
# Installs one station as systemd services (issue #12; docs/operations.md is the runbook):
# the built binaries, the web console, the units of deploy/systemd and evcs.target, the
# services' system users (sysusers.d), and /etc/evcs with the station's settings and
# generated secrets.
#   deploy/install-systemd.sh [--dry-run] [--root DIR] [--prefix DIR] [--listen ADDR]
#                             [--profile NAME|FILE] BUILD_DIR
# BUILD_DIR is a CMake build folder (build/release). --prefix (default /usr/local) takes
# the binaries (PREFIX/bin), the web console and broker files (PREFIX/share/evcs) and the
# runbook (PREFIX/share/doc/evcs); units go to /etc/systemd/system. --listen is the
# address the broker listens on and the services connect to (default 127.0.0.1; the
# station network's address when piles connect over it). --profile (default bupt-2023,
# or what /etc/evcs/station.env already names) is the station profile: a FILE is
# installed as /etc/evcs/profile.json. Every pile of the profile gets a broker account.
#
# Idempotent: binaries, web files, units and the broker's read-only files are replaced;
# settings an operator may have edited (station.env, mosquitto.conf, evcs.acl) are
# written only if absent, otherwise a differing new version is left beside them as
# FILE.new; secrets are never overwritten: a missing one is generated (0600, root), and
# an account missing from the broker's password file is added. An env file missing while
# the password file still has its account stops the run (its password is unknown).
#
# --root DIR installs into DIR instead of / (tests, packaging): nothing outside DIR is
# touched, no systemctl is run, users are made in DIR's /etc/passwd. Without --root it
# must run as root, and runs systemctl daemon-reload and disables Debian's own
# mosquitto.service (it listens on 1883 too); it starts nothing. --dry-run prints what it
# would do and changes nothing (no secret is printed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
usage="usage: deploy/install-systemd.sh [--dry-run] [--root DIR] [--prefix DIR] [--listen ADDR] [--profile NAME|FILE] BUILD_DIR"
dry=0 root="" prefix=/usr/local listen=127.0.0.1 profile="" build=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry=1; shift ;;
        --root) root=${2:?$usage}; shift 2 ;;
        --prefix) prefix=${2:?$usage}; shift 2 ;;
        --listen) listen=${2:?$usage}; shift 2 ;;
        --profile) profile=${2:?$usage}; shift 2 ;;
        -h | --help) echo "$usage"; exit 0 ;;
        -*) echo "$usage" >&2; exit 2 ;;
        *) [ -z "$build" ] || { echo "$usage" >&2; exit 2; }
           build=$1; shift ;;
    esac
done
[ -n "$build" ] || { echo "$usage" >&2; exit 2; }
case "$prefix" in /*) ;; *) echo "install-systemd: --prefix must be absolute" >&2; exit 2 ;; esac
if [ -n "$root" ]; then
    case "$root" in /*) ;; *) root=$PWD/$root ;; esac
    root=${root%/}
    [ "$dry" = 1 ] || mkdir -p "$root"
elif [ "$dry" = 0 ] && [ "$(id -u)" -ne 0 ]; then
    echo "install-systemd: installing into / needs root (or use --root DIR, or --dry-run)" >&2
    exit 1
fi
build=$(cd "$build" && pwd)
etc=$root/etc/evcs
units=$root/etc/systemd/system

say() { echo "install-systemd: $*"; }
exec 3>&1  # what account_password says, from inside a command substitution
# Runs a command, or in a dry run only says it.
run() {
    if [ "$dry" = 1 ]; then
        echo "would run: $*"
    else
        "$@"
    fi
}

# ---- what is installed from where ------------------------------------------------------
declare -A binaries=(
    [station-scheduler]=scheduler/service/station-scheduler
    [station-api]=api/station-api
    [station-gateway]=gateway/station-gateway
    [station-pile-sim]=pile-sim/station-pile-sim
    [station-replay]=scheduler/replay/station-replay
)
for name in "${!binaries[@]}"; do
    [ -x "$build/${binaries[$name]}" ] ||
        { echo "install-systemd: $build/${binaries[$name]} is missing: build it first (README)" >&2; exit 1; }
done
replay=$build/${binaries[station-replay]}

# The profile: the argument, else the one station.env names, else bupt-2023.
if [ -z "$profile" ] && [ -f "$etc/station.env" ]; then
    profile=$(sed -n 's/^EVCS_PROFILE=//p' "$etc/station.env" | tail -n 1)
    [ "$profile" != /etc/evcs/profile.json ] || profile=$etc/profile.json
fi
profile=${profile:-bupt-2023}
profile_setting=$profile
if [ -f "$profile" ]; then
    profile_file=$(cd "$(dirname "$profile")" && pwd)/$(basename "$profile")
    profile_setting=/etc/evcs/profile.json
else
    profile_file=""
fi
piles=$("$replay" --profile "$profile" --list-piles | cut -d' ' -f1) ||
    { echo "install-systemd: cannot list the piles of profile $profile" >&2; exit 1; }
[ -n "$piles" ] || { echo "install-systemd: profile $profile has no piles" >&2; exit 1; }
for p in $piles; do
    case "$p" in
        scheduler | api | monitor) echo "install-systemd: a pile may not be named $p (a service's broker account)" >&2; exit 1 ;;
    esac
done

# ---- files that are ours: replaced on every run ----------------------------------------
# install_file SOURCE DEST MODE [sed script]: copies (through sed when given), replacing.
install_file() {
    local from=$1 to=$2 mode=$3 script=${4:-}
    if [ "$dry" = 1 ]; then
        echo "would install $to ($mode) from ${from#"$src"/}"
        return
    fi
    mkdir -p "$(dirname "$to")"
    local tmp
    tmp=$(mktemp "$to.XXXXXX")
    if [ -n "$script" ]; then sed -e "$script" "$from" >"$tmp"; else cat "$from" >"$tmp"; fi
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$to"
}
# Units name /usr/local; another prefix is put in their place.
prefix_script="s|/usr/local/|$prefix/|g"

say "binaries into $root$prefix/bin"
for name in $(printf '%s\n' "${!binaries[@]}" | sort); do
    install_file "$build/${binaries[$name]}" "$root$prefix/bin/$name" 0755
done
say "web console into $root$prefix/share/evcs/web"
if [ "$dry" = 1 ]; then
    echo "would replace $root$prefix/share/evcs/web with ${src}/web (files 0644, folders 0755)"
else
    mkdir -p "$root$prefix/share/evcs"
    rm -rf "$root$prefix/share/evcs/web.new"
    cp -R "$src/web" "$root$prefix/share/evcs/web.new"
    find "$root$prefix/share/evcs/web.new" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
    rm -rf "$root$prefix/share/evcs/web"
    mv "$root$prefix/share/evcs/web.new" "$root$prefix/share/evcs/web"
fi
install_file "$src/broker/prod.conf" "$root$prefix/share/evcs/broker/prod.conf" 0644
install_file "$src/broker/evcs.acl" "$root$prefix/share/evcs/broker/evcs.acl" 0644
install_file "$src/deploy/systemd/evcs-gateway-tls.conf" "$root$prefix/share/evcs/systemd/evcs-gateway-tls.conf" 0644 "$prefix_script"
install_file "$src/docs/operations.md" "$root$prefix/share/doc/evcs/operations.md" 0644
say "units into $units"
for unit in "$src"/deploy/systemd/evcs*.service "$src/deploy/systemd/evcs.target"; do
    install_file "$unit" "$units/$(basename "$unit")" 0644 "$prefix_script"
done
install_file "$src/deploy/systemd/evcs.sysusers" "$root/etc/sysusers.d/evcs.conf" 0644

say "system users (sysusers.d/evcs.conf)"
if [ -n "$root" ]; then
    run mkdir -p "$root/etc"
    run systemd-sysusers --root="$root" "$root/etc/sysusers.d/evcs.conf"
else
    run systemd-sysusers /etc/sysusers.d/evcs.conf
fi

# ---- settings: written if absent, else a differing new version beside them ---------------
# settle TEMPFILE DEST MODE: TEMPFILE becomes DEST if there is none; if DEST differs it is
# kept and TEMPFILE becomes DEST.new.
settle() {
    local tmp=$1 to=$2 mode=$3
    if [ "$dry" = 1 ]; then
        if [ ! -e "$to" ]; then
            echo "would create $to ($mode)"
        elif ! cmp -s "$tmp" "$to"; then
            echo "would keep $to (edited or older) and write $to.new beside it"
        fi
        rm -f "$tmp"
        return
    fi
    chmod "$mode" "$tmp"
    if [ ! -e "$to" ]; then
        mv "$tmp" "$to"
        say "created $to"
    elif cmp -s "$tmp" "$to"; then
        rm -f "$tmp"
        rm -f "$to.new"
    else
        mv -f "$tmp" "$to.new"
        say "kept $to; the new version is $to.new (compare and merge by hand)"
    fi
}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
chmod 700 "$scratch"

if [ "$dry" = 1 ]; then
    [ -d "$etc" ] || echo "would create $etc (0755)"
else
    mkdir -p "$etc"
    chmod 0755 "$etc"
fi
if [ -n "$profile_file" ]; then
    cp "$profile_file" "$scratch/profile.json"
    settle "$scratch/profile.json" "$etc/profile.json" 0644
fi
cat >"$scratch/station.env" <<EOF
# The station's settings, read by every evcs-* unit (not secret: secrets are in the
# 0600 files beside this one). docs/operations.md says what each does.
EVCS_BROKER=tcp://$listen:1883
EVCS_PROFILE=$profile_setting
# Each service's Prometheus /metrics is on loopback: 9461 scheduler, 9462 API, 9463 gateway.
# e.g. --metered-piles all (real chargers bill by their meters), --offline-grace-ms N
EVCS_SCHEDULER_ARGS=--metrics 127.0.0.1:9461
# --host 0.0.0.0 to serve the network (behind a TLS reverse proxy), --port, --threads ...
EVCS_API_ARGS=--host 127.0.0.1 --port 8080 --metrics 127.0.0.1:9462
# --host ADDR --port N for chargers on the network, --dialects /etc/evcs/dialects.json ...
EVCS_GATEWAY_ARGS=--host 127.0.0.1 --port 8180 --metrics 127.0.0.1:9463
EVCS_PILE_SIM_ARGS=
EOF
settle "$scratch/station.env" "$etc/station.env" 0644
# prod.conf with the deployment's paths (as broker/start-prod.sh does for a test run).
sed -e "s|^listener 1883 .*|listener 1883 $listen|" \
    -e "s|^password_file .*|password_file /run/credentials/evcs-broker.service/broker.passwd|" \
    -e "s|^acl_file .*|acl_file /etc/evcs/evcs.acl|" \
    -e "s|^persistence_location .*|persistence_location /var/lib/evcs/broker/|" \
    -e "s|^log_dest syslog|log_dest stderr|" "$src/broker/prod.conf" >"$scratch/mosquitto.conf"
for want in "listener 1883 $listen" "password_file /run/credentials/evcs-broker.service/broker.passwd" \
    "acl_file /etc/evcs/evcs.acl" "persistence_location /var/lib/evcs/broker/" "log_dest stderr"; do
    grep -qxF "$want" "$scratch/mosquitto.conf" ||
        { echo "install-systemd: prod.conf has no line to turn into '$want'" >&2; exit 1; }
done
settle "$scratch/mosquitto.conf" "$etc/mosquitto.conf" 0644
cp "$src/broker/evcs.acl" "$scratch/evcs.acl"
settle "$scratch/evcs.acl" "$etc/evcs.acl" 0644

# ---- secrets: generated if absent, never overwritten ------------------------------------
# Every file below is 0600 and root's: systemd reads them (EnvironmentFile=,
# LoadCredential=) before it drops to the service's user.
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
passwd=$etc/broker.passwd
has_account() { [ -f "$passwd" ] && grep -q "^$1:" "$passwd"; }
new_accounts=()   # "user:password" lines to hash into the password file
# write_secret DEST: standard input becomes DEST (0600), which must not exist.
write_secret() {
    local to=$1
    if [ "$dry" = 1 ]; then
        cat >/dev/null
        echo "would create $to (0600, root) with a new password"
        return
    fi
    local tmp
    tmp=$(mktemp "$to.XXXXXX")
    chmod 600 "$tmp"
    cat >"$tmp"
    mv -n "$tmp" "$to"
    rm -f "$tmp"
    say "created $to (0600)"
}
# account_password ACCOUNT FILE KEY: the account's password from FILE (KEY=VALUE, or the
# whole first line without KEY), made and written there if FILE is absent.
account_password() {
    local account=$1 file=$2 key=$3 extra=${4:-} password
    if [ -f "$file" ]; then
        if [ -n "$key" ]; then
            password=$(sed -n "s/^$key=//p" "$file" | tail -n 1)
        else
            password=$(head -n 1 "$file")
        fi
        [ -n "$password" ] || { echo "install-systemd: $file holds no password${key:+ ($key)}" >&2; exit 1; }
    else
        if has_account "$account"; then
            echo "install-systemd: $file is missing but $passwd has the account $account:" \
                "restore $file, or delete the line $account: from $passwd to make a new password" >&2
            exit 1
        fi
        password=$(secret)
        if [ -n "$key" ]; then
            printf '%s=%s\n%s' "$key" "$password" "$extra" | write_secret "$file" >&3
        else
            printf '%s\n' "$password" | write_secret "$file" >&3
        fi
    fi
    printf '%s' "$password"
}
need_account() {  # need_account NAME PASSWORD
    has_account "$1" || new_accounts+=("$1:$2")
}
mqtt_key=STATION_MQTT_PASSWORD
scheduler_pw=$(account_password scheduler "$etc/scheduler.env" $mqtt_key)
need_account scheduler "$scheduler_pw"
admin_extra="STATION_ADMIN_ACCOUNT=admin@station.local
STATION_ADMIN_PASSWORD=$(secret)
# STATION_JWT_SECRET (at least 32 characters) would replace the token key kept in the
# database (docs/operations.md, \"Rotating secrets\").
"
api_pw=$(account_password api "$etc/api.env" $mqtt_key "$admin_extra")
need_account api "$api_pw"
monitor_pw=$(account_password monitor "$etc/monitor.password" "")
need_account monitor "$monitor_pw"
# One password for every pile: station-pile-sim and station-gateway log every pile in with
# the one STATION_MQTT_PASSWORD they are given.
piles_pw=""
for p in $piles; do
    if [ -z "$piles_pw" ]; then
        piles_pw=$(account_password "$p" "$etc/piles.env" $mqtt_key)
    fi
    need_account "$p" "$piles_pw"
done
if [ ${#new_accounts[@]} -gt 0 ]; then
    names=$(printf '%s\n' "${new_accounts[@]}" | cut -d: -f1 | tr '\n' ' ')
    if [ "$dry" = 1 ]; then
        echo "would add broker accounts to $passwd (0600, root; hashed by mosquitto_passwd): $names"
    else
        command -v mosquitto_passwd >/dev/null ||
            { echo "install-systemd: mosquitto_passwd is missing (deploy/install-deps.sh)" >&2; exit 1; }
        # Hashed in a private file, so that no password is ever on a command line.
        printf '%s\n' "${new_accounts[@]}" >"$scratch/plain.passwd"
        chmod 600 "$scratch/plain.passwd"
        mosquitto_passwd -U "$scratch/plain.passwd"
        if grep -qv '^[^:]*:\$[67]\$' "$scratch/plain.passwd"; then
            echo "install-systemd: mosquitto_passwd left a password unhashed" >&2
            exit 1
        fi
        if [ -f "$passwd" ]; then
            cp "$passwd" "$scratch/broker.passwd"
        else
            : >"$scratch/broker.passwd"
        fi
        cat "$scratch/plain.passwd" >>"$scratch/broker.passwd"
        chmod 600 "$scratch/broker.passwd"
        mv -f "$scratch/broker.passwd" "$passwd"
        say "added broker accounts to $passwd: $names(restart evcs-broker if it runs)"
    fi
fi

# ---- the running system -----------------------------------------------------------------
if [ -z "$root" ]; then
    run systemctl daemon-reload
    if systemctl is-enabled --quiet mosquitto.service 2>/dev/null; then
        say "Debian's mosquitto.service also listens on 1883: disabling it (evcs-broker.service conflicts with it)"
        run systemctl disable mosquitto.service
    fi
fi
say "done. Next (docs/operations.md): systemctl enable --now evcs.target" \
    "(and evcs-pile-sim.service for a simulated station, or evcs-gateway.service once $etc/chargers.json exists)"
