#!/usr/bin/env bash
# Installs one station as systemd services (issue #12; docs/operations.md is the runbook):
# the built binaries, the web console, the units of deploy/systemd and evcs.target, the
# services' system users (sysusers.d), /etc/evcs with the station's settings, and
# /etc/evcs/credentials with its generated secrets.
#   deploy/install-systemd.sh [--dry-run] [--root DIR] [--prefix DIR] [--listen ADDR]
#                             [--profile NAME|FILE] [--station ID --centre NODES]
#                             [--centre-ca FILE] BUILD_DIR
# BUILD_DIR is a CMake build folder (build/release). --prefix (default /usr/local) takes
# the binaries (PREFIX/bin), the web console and broker files (PREFIX/share/evcs) and the
# runbook (PREFIX/share/doc/evcs); units go to /etc/systemd/system. --listen is the
# address the broker listens on and the services connect to (default 127.0.0.1; the
# station network's address when piles connect over it). --profile (default bupt-2023,
# or what /etc/evcs/station.env already names) is the station profile: a FILE is
# installed as /etc/evcs/profile.json. Every pile of the profile gets a broker account.
# --station ID --centre HOST:PORT[,HOST:PORT...] bridge the station's broker to a centre
# (its RabbitMQ nodes), kept in /etc/evcs/bridge.env for later runs: the bridge logs in as
# bridge-ID with the password in /etc/evcs/credentials/bridge.mqtt, which the centre's
# installer made (copied here from the centre's credentials/bridge-ID.mqtt). --centre-ca
# FILE (PEM, installed as /etc/evcs/centre-ca.pem) makes the bridge TLS: the centre's
# certificates must chain to it and name the node's host (NODES are then its TLS ports).
#
# Secrets are files in /etc/evcs/credentials (0700; each file 0600, root), which systemd
# hands to the services (LoadCredential=; the binaries read NAME_FILE): none is in an
# environment file, a unit or a command line.
#
# Idempotent: binaries, web files, units and the broker's read-only files are replaced;
# settings an operator may have edited (station.env, mosquitto.conf, evcs.acl) are
# written only if absent, otherwise a differing new version is left beside them as
# FILE.new; secrets are never overwritten: a missing one is generated, and an account
# missing from the broker's password file is added. A password file missing while the
# broker's password file still has its account stops the run (its password is unknown).
# An install of before the credentials is upgraded: each secret of its 0600 *.env files
# (and broker.passwd, monitor.password) moves into its credential file, and an env file
# left without a setting is removed. The one password all piles had before becomes each
# pile's line in piles.passwords (new piles get their own).
#
# --root DIR installs into DIR instead of / (tests, packaging): nothing outside DIR is
# touched, no systemctl is run, users are made in DIR's /etc/passwd. Without --root it
# must run as root, and runs systemctl daemon-reload and disables Debian's own
# mosquitto.service (it listens on 1883 too); it starts nothing. --dry-run prints what it
# would do and changes nothing (no secret is printed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
me=install-systemd
usage="usage: deploy/install-systemd.sh [--dry-run] [--root DIR] [--prefix DIR] [--listen ADDR] [--profile NAME|FILE] [--station ID --centre NODES] [--centre-ca FILE] BUILD_DIR"
dry=0 root="" prefix=/usr/local listen=127.0.0.1 profile="" build="" station="" centre="" centre_ca=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry=1; shift ;;
        --root) root=${2:?$usage}; shift 2 ;;
        --prefix) prefix=${2:?$usage}; shift 2 ;;
        --listen) listen=${2:?$usage}; shift 2 ;;
        --profile) profile=${2:?$usage}; shift 2 ;;
        --station) station=${2:?$usage}; shift 2 ;;
        --centre) centre=${2:?$usage}; shift 2 ;;
        --centre-ca) centre_ca=${2:?$usage}; shift 2 ;;
        -h | --help) echo "$usage"; exit 0 ;;
        -*) echo "$usage" >&2; exit 2 ;;
        *) [ -z "$build" ] || { echo "$usage" >&2; exit 2; }
           build=$1; shift ;;
    esac
done
[ -n "$build" ] || { echo "$usage" >&2; exit 2; }
case "$prefix" in /*) ;; *) echo "$me: --prefix must be absolute" >&2; exit 2 ;; esac
if [ -n "$root" ]; then
    case "$root" in /*) ;; *) root=$PWD/$root ;; esac
    root=${root%/}
    [ "$dry" = 1 ] || mkdir -p "$root"
elif [ "$dry" = 0 ] && [ "$(id -u)" -ne 0 ]; then
    echo "$me: installing into / needs root (or use --root DIR, or --dry-run)" >&2
    exit 1
fi
build=$(cd "$build" && pwd)
etc=$root/etc/evcs
units=$root/etc/systemd/system
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# mosquitto.conf's line that reads the bridge's section from the broker's credentials.
bridge_include="include_dir /run/credentials/evcs-broker.service"
chmod 700 "$scratch"
# shellcheck source=deploy/install-lib.sh
. "$here/install-lib.sh"

# ---- what is installed from where ------------------------------------------------------
declare -A binaries=(
    [station-scheduler]=scheduler/service/station-scheduler
    [station-api]=api/station-api
    [station-db-copy]=api/station-db-copy
    [station-gateway]=gateway/station-gateway
    [station-pile-sim]=pile-sim/station-pile-sim
    [station-replay]=scheduler/replay/station-replay
)
for name in "${!binaries[@]}"; do
    [ -x "$build/${binaries[$name]}" ] || die "$build/${binaries[$name]} is missing: build it first (README)"
done
replay=$build/${binaries[station-replay]}

# The profile: the argument, else the one station.env names, else bupt-2023.
if [ -z "$profile" ] && [ -f "$etc/station.env" ]; then
    profile=$(env_value "$etc/station.env" EVCS_PROFILE)
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
    die "cannot list the piles of profile $profile"
[ -n "$piles" ] || die "profile $profile has no piles"
for p in $piles; do
    case "$p" in
        scheduler | api | monitor) die "a pile may not be named $p (a service's broker account)" ;;
    esac
done

# An install of before the credentials: its secrets move into credentials (below). A
# conflict stops the run here, before anything is changed.
upgrade() {
    move_secret_file "$etc/broker.passwd" "$creds/broker.passwd"
    move_secret_file "$etc/monitor.password" "$creds/monitor.mqtt"
    move_env_secret "$etc/scheduler.env" STATION_MQTT_PASSWORD "$creds/scheduler.mqtt"
    move_env_secret "$etc/api.env" STATION_MQTT_PASSWORD "$creds/api.mqtt"
    move_env_secret "$etc/api.env" STATION_ADMIN_PASSWORD "$creds/api.admin"
    move_env_secret "$etc/api.env" STATION_JWT_SECRET "$creds/api.jwt"
    move_env_secret "$etc/piles.env" STATION_MQTT_PASSWORD "$creds/piles.mqtt"
    move_env_secret "$etc/gateway.env" STATION_VENDOR_MQTT_PASSWORD "$creds/gateway.vendor-mqtt"
}
step=check upgrade
# The bridge's password comes from the centre: without it, stop before anything is written.
if [ -n "$station" ] && ! has_secret "$etc/credentials/bridge.mqtt"; then
    die "$etc/credentials/bridge.mqtt is missing: copy /etc/evcs/credentials/bridge-$station.mqtt from" \
        "the centre's first node here (0600, root), then run again (docs/operations.md)"
fi
if [ -n "$centre_ca" ] && ! grep -q -- "-----BEGIN CERTIFICATE-----" "$centre_ca" 2>/dev/null; then
    die "--centre-ca $centre_ca is not a readable PEM certificate"
fi

# ---- files that are ours: replaced on every run ----------------------------------------
say "binaries into $root$prefix/bin"
for name in $(printf '%s\n' "${!binaries[@]}" | sort); do
    install_file "$build/${binaries[$name]}" "$root$prefix/bin/$name" 0755
done
install_web
install_file "$src/broker/prod.conf" "$root$prefix/share/evcs/broker/prod.conf" 0644
install_file "$src/broker/evcs.acl" "$root$prefix/share/evcs/broker/evcs.acl" 0644
install_file "$src/deploy/systemd/evcs-gateway-tls.conf" "$root$prefix/share/evcs/systemd/evcs-gateway-tls.conf" 0644 "$(prefix_script)"
install_file "$src/docs/operations.md" "$root$prefix/share/doc/evcs/operations.md" 0644
say "units into $units"
for unit in evcs-broker.service evcs-scheduler.service evcs-api.service evcs-gateway.service \
    evcs-pile-sim.service evcs.target; do
    install_file "$src/deploy/systemd/$unit" "$units/$unit" 0644 "$(prefix_script)"
done
install_file "$src/deploy/systemd/evcs.sysusers" "$root/etc/sysusers.d/evcs.conf" 0644
make_users "$root/etc/sysusers.d/evcs.conf"

if [ "$dry" = 1 ]; then
    [ -d "$etc" ] || echo "would create $etc (0755)"
else
    mkdir -p "$etc"
    chmod 0755 "$etc"
fi
make_creds_dir

# ---- an install of before the credentials: its secrets move into credentials ------------
step=move upgrade
for env in scheduler.env piles.env gateway.env; do retire_env "$etc/$env"; done
# The API's settings file: what it says about the token key went with the secret.
api_header="# The REST API's own settings, read by evcs-api. No secrets: they are in
# /etc/evcs/credentials (docs/operations.md). STATION_ADMIN_ACCOUNT is the first admin,
# made at the first start with the password in /etc/evcs/credentials/api.admin."
old_note="# STATION_JWT_SECRET (at least 32 characters) would replace the token key kept in the"
if [ "$dry" = 0 ] && [ -f "$etc/api.env" ] && grep -qxF "$old_note" "$etc/api.env"; then
    { printf '%s\n' "$api_header"
      grep -vxF -e "$old_note" -e '# database (docs/operations.md, "Rotating secrets").' "$etc/api.env" || true
    } >"$scratch/api.env"
    chmod --reference="$etc/api.env" "$scratch/api.env"
    mv -f "$scratch/api.env" "$etc/api.env"
fi

# ---- settings: written if absent, else a differing new version beside them ---------------
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
# The API's settings: written only if absent (an upgraded one keeps its admin account).
if [ ! -e "$etc/api.env" ]; then
    printf '%s\nSTATION_ADMIN_ACCOUNT=admin@station.local\n' "$api_header" >"$scratch/api.env"
    settle "$scratch/api.env" "$etc/api.env" 0644
fi
# prod.conf with the deployment's paths (as broker/start-prod.sh does for a test run).
sed -e "s|^listener 1883 .*|listener 1883 $listen|" \
    -e "s|^password_file .*|password_file /run/credentials/evcs-broker.service/broker.passwd|" \
    -e "s|^acl_file .*|acl_file /etc/evcs/evcs.acl|" \
    -e "s|^persistence_location .*|persistence_location /var/lib/evcs/broker/|" \
    -e "s|^log_dest syslog|log_dest stderr|" "$src/broker/prod.conf" >"$scratch/mosquitto.conf"
for want in "listener 1883 $listen" "password_file /run/credentials/evcs-broker.service/broker.passwd" \
    "acl_file /etc/evcs/evcs.acl" "persistence_location /var/lib/evcs/broker/" "log_dest stderr"; do
    grep -qxF "$want" "$scratch/mosquitto.conf" || die "prod.conf has no line to turn into '$want'"
done
# The bridge to a centre: its settings from the options (then kept) or from bridge.env.
bridge_env=$etc/bridge.env
if [ -n "$station$centre" ]; then
    { [ -n "$station" ] && [ -n "$centre" ]; } || die "--station and --centre go together"
elif [ -f "$bridge_env" ]; then
    station=$(env_value "$bridge_env" EVCS_STATION)
    centre=$(env_value "$bridge_env" EVCS_CENTRE)
fi
if [ -n "$station" ]; then
    case "$station" in
        *[!A-Za-z0-9_-]*) die "a station id is letters, digits, - and _: '$station'" ;;
    esac
    [ "${#station}" -le 32 ] || die "a station id has at most 32 characters: '$station'"
    addresses=$(echo "$centre" | tr ',' ' ' | xargs)
    case "$addresses" in
        *[!A-Za-z0-9.:\ _-]* | "") die "--centre is HOST:PORT[,HOST:PORT...]: '$centre'" ;;
    esac
    printf '%s\n' "# The centre this station's broker is bridged to (deploy/install-systemd.sh --station" \
        "# and --centre write it; docs/operations.md, \"The stations' bridges\")." \
        "EVCS_STATION=$station" "EVCS_CENTRE=${addresses// /,}" >"$scratch/bridge.env"
    if [ -n "$centre_ca" ]; then
        install_file "$centre_ca" "$etc/centre-ca.pem" 0644
    fi
    if [ "$dry" = 1 ]; then
        cmp -s "$scratch/bridge.env" "$bridge_env" || echo "would write $bridge_env (0644): station $station, centre $addresses"
    elif ! cmp -s "$scratch/bridge.env" "$bridge_env"; then
        install_file "$scratch/bridge.env" "$bridge_env" 0644
    fi
    printf '%s\n' "" "# The bridge to the centre: its section, with the password, is the credential bridge.conf" \
        "# (/etc/evcs/credentials/bridge.conf, deploy/install-systemd.sh; docs/operations.md)." \
        "$bridge_include" >>"$scratch/mosquitto.conf"
fi
[ -z "$centre_ca" ] || [ -n "$station" ] || die "--centre-ca goes with --station and --centre"
settle "$scratch/mosquitto.conf" "$etc/mosquitto.conf" 0644
if [ -n "$station" ] && [ "$dry" = 0 ] && ! grep -qxF "$bridge_include" "$etc/mosquitto.conf"; then
    die "$etc/mosquitto.conf was kept (edited or older) and lacks '$bridge_include':" \
        "merge $etc/mosquitto.conf.new into it, then run again"
fi
cp "$src/broker/evcs.acl" "$scratch/evcs.acl"
settle "$scratch/evcs.acl" "$etc/evcs.acl" 0644

# ---- secrets: generated if absent, never overwritten ------------------------------------
passwd=$creds/broker.passwd
has_account() {
    local at
    at=$(secret_path "$passwd")
    [ -n "$at" ] && grep -q "^$1:" "$at"
}
new_accounts=()   # "user:password" lines to hash into the password file
# account_password ACCOUNT FILE: sets pw to the account's password from FILE, made and
# written there if FILE is absent (and the account is not in the password file).
account_password() {
    local account=$1 file=$2
    if has_secret "$file"; then
        pw=$(read_secret "$file")
        [ -n "$pw" ] || die "$file holds no password"
    else
        has_account "$account" &&
            die "$file is missing but $passwd has the account $account:" \
                "restore $file, or delete the line $account: from $passwd to make a new password"
        pw=$(new_secret)
        write_secret "$file" "$pw"
    fi
    has_account "$account" || new_accounts+=("$account:$pw")
}
pw=""
account_password scheduler "$creds/scheduler.mqtt"
account_password api "$creds/api.mqtt"
account_password monitor "$creds/monitor.mqtt"
# A password per pile: "PILE PASSWORD" lines of piles.passwords, which station-pile-sim and
# station-gateway read through STATION_PILE_PASSWORDS_FILE. A pile with an account but no
# line takes the one password all piles had before (piles.mqtt, then removed), else it
# stops the run (its password is unknown); a pile new to the profile gets one of its own.
piles_file=$creds/piles.passwords
declare -A pile_pw=()
if [ -n "$(secret_path "$piles_file")" ]; then
    while read -r id value || [ -n "$id" ]; do
        case "$id" in '' | '#'*) continue ;; esac
        pile_pw[$id]=$value
    done <"$(secret_path "$piles_file")"
fi
shared=""
! has_secret "$creds/piles.mqtt" || shared=$(read_secret "$creds/piles.mqtt")
new_lines=()
for p in $piles; do
    if [ -n "${pile_pw[$p]+x}" ]; then
        pw=${pile_pw[$p]}
    else
        if ! has_account "$p"; then
            pw=$(new_secret)
        elif [ -n "$shared" ]; then
            pw=$shared
        else
            die "$piles_file has no password for pile $p, but $passwd has its account:" \
                "restore the file, or delete the line $p: from $passwd to make a new password"
        fi
        new_lines+=("$p $pw")
    fi
    has_account "$p" || new_accounts+=("$p:$pw")
done
if [ ${#new_lines[@]} -gt 0 ]; then
    if [ "$dry" = 1 ]; then
        echo "would add the passwords of piles$(printf ' %s' "${new_lines[@]%% *}") to $piles_file (0600, root)"
    else
        : >"$scratch/piles.passwords"
        if [ -f "$piles_file" ]; then
            cat "$piles_file" >>"$scratch/piles.passwords"
            [ -z "$(tail -c 1 "$piles_file")" ] || echo >>"$scratch/piles.passwords"  # its last line ended
        fi
        printf '%s\n' "${new_lines[@]}" >>"$scratch/piles.passwords"
        chmod 600 "$scratch/piles.passwords"
        mv -f "$scratch/piles.passwords" "$piles_file"
        say "added the passwords of piles$(printf ' %s' "${new_lines[@]%% *}") to $piles_file"
    fi
fi
# Every pile has its own line now: the one password of before is no longer read.
[ -z "$shared" ] || remove_file "$creds/piles.mqtt"
# The first admin's password (used once: to create STATION_ADMIN_ACCOUNT if absent).
has_secret "$creds/api.admin" || write_secret "$creds/api.admin" "$(new_secret)"
if [ ${#new_accounts[@]} -gt 0 ]; then
    names=$(printf '%s\n' "${new_accounts[@]}" | cut -d: -f1 | tr '\n' ' ')
    if [ "$dry" = 1 ]; then
        echo "would add broker accounts to $passwd (0600, root; hashed by mosquitto_passwd): $names"
    else
        command -v mosquitto_passwd >/dev/null || die "mosquitto_passwd is missing (deploy/install-deps.sh)"
        # Hashed in a private file, so that no password is ever on a command line.
        printf '%s\n' "${new_accounts[@]}" >"$scratch/plain.passwd"
        chmod 600 "$scratch/plain.passwd"
        mosquitto_passwd -U "$scratch/plain.passwd"
        grep -qv '^[^:]*:\$[67]\$' "$scratch/plain.passwd" && die "mosquitto_passwd left a password unhashed"
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
# The bridge's section with its password: a credential made from bridge.mqtt, which the
# centre's installer made (mosquitto reads a bridge's password only from its configuration).
bridge_conf=$creds/bridge.conf
if [ -n "$station" ]; then
    has_secret "$creds/bridge.mqtt" ||
        die "$creds/bridge.mqtt is missing: copy /etc/evcs/credentials/bridge-$station.mqtt from the" \
            "centre's first node here (0600, root), then run again (docs/operations.md)"
    bridge_pw=$(read_secret "$creds/bridge.mqtt")
    case "$bridge_pw" in
        "" | *[!A-Za-z0-9._~+/=-]*) die "$creds/bridge.mqtt holds no password mosquitto can read from its configuration" ;;
    esac
    sed -e "s|@NAME@|bridge-$station|g" -e "s|@STATION@|$station|g" -e "s|@ADDRESSES@|$addresses|g" \
        "$src/broker/bridge.conf" >"$scratch/bridge.conf"
    printf 'remote_username bridge-%s\nremote_password %s\n' "$station" "$bridge_pw" >>"$scratch/bridge.conf"
    # TLS to the centre while its authority's certificate is installed (--centre-ca).
    if [ -f "$etc/centre-ca.pem" ] || [ -n "$centre_ca" ]; then
        printf '%s\n' "bridge_cafile /etc/evcs/centre-ca.pem" "bridge_insecure false" >>"$scratch/bridge.conf"
    fi
    chmod 600 "$scratch/bridge.conf"
    if [ "$dry" = 1 ]; then
        cmp -s "$scratch/bridge.conf" "$bridge_conf" 2>/dev/null ||
            echo "would write $bridge_conf (0600, root): the bridge to $addresses as bridge-$station"
        dry_secrets[$bridge_conf]=x
    elif ! cmp -s "$scratch/bridge.conf" "$bridge_conf"; then
        mv -f "$scratch/bridge.conf" "$bridge_conf"
        say "wrote $bridge_conf (0600): the bridge to $addresses as bridge-$station (restart evcs-broker if it runs)"
    fi
fi
# Optional secrets: a drop-in hands each over while its file exists.
optional_dropin "$bridge_conf" "$src/deploy/systemd/evcs-broker-bridge.conf" "$units/evcs-broker.service.d/bridge.conf"
optional_dropin "$creds/api.jwt" "$src/deploy/systemd/evcs-api-jwt.conf" "$units/evcs-api.service.d/jwt.conf"
optional_dropin "$creds/api.pgpass" "$src/deploy/systemd/evcs-api-postgresql.conf" "$units/evcs-api.service.d/postgresql.conf"
optional_dropin "$creds/gateway.vendor-mqtt" "$src/deploy/systemd/evcs-gateway-vendor.conf" "$units/evcs-gateway.service.d/vendor.conf"

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
