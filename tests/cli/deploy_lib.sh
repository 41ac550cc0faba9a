# Checks of the deploy tests (tests/cli/deploy_*.sh) on a root that deploy/install-*.sh
# installed into. Sourced first, with `src` set: it sources broker_lib.sh (ok, fail) and
# skips the test (exit 77) without systemd-analyze. Each check says ok or fail and goes on.
# "check && ok || fail": ok only prints.
# shellcheck shell=bash disable=SC2015,SC2034,SC2154  # src in, port, broker_pid, service_pids out
# shellcheck source=tests/cli/broker_lib.sh
. "$src/tests/cli/broker_lib.sh"
command -v systemd-analyze >/dev/null || { echo "systemd-analyze is missing: skipped"; exit 77; }

# fake_systemctl DIR: a systemctl first on PATH that fails and records each call in
# DIR/systemctl.calls (with --root, nothing may touch the running system).
fake_systemctl() {
    mkdir -p "$1/bin"
    printf '#!/bin/sh\necho "$*" >>"%s/systemctl.calls"\nexit 1\n' "$1" >"$1/bin/systemctl"
    chmod +x "$1/bin/systemctl"
    export PATH="$1/bin:$PATH"
}

# unit_files ROOT NAME: the files of an installed unit: its file (if in the root) and its
# drop-ins.
unit_files() {
    local at=$1/etc/systemd/system/$2
    [ ! -f "$at" ] || echo "$at"
    [ ! -d "$at.d" ] || find "$at.d" -name '*.conf' | sort
}
# unit_names ROOT: every service with a unit file or drop-ins in the root.
unit_names() {
    find "$1/etc/systemd/system" -maxdepth 1 \( -name '*.service' -o -name '*.service.d' \) \
        -printf '%f\n' | sed 's/\.d$//' | sort -u
}

# check_credentials ROOT: /etc/evcs/credentials is 0700 and every file in it 0600, root's
# (the installer's user); every LoadCredential= of an installed unit or drop-in names a file
# that exists there (but the chargers file, which the operator adds), 0600; and every
# Environment=NAME_FILE=%d/ID hands over a credential ID that the unit loads.
check_credentials() {
    local root=$1 creds=$1/etc/evcs/credentials bad="" name f id path var
    [ "$(stat -c '%a %u' "$creds")" = "700 $(id -u)" ] || bad="$bad credentials/ is $(stat -c '%a %u' "$creds");"
    for f in "$creds"/*; do
        [ "$(stat -c '%a %u' "$f")" = "600 $(id -u)" ] || bad="$bad ${f#"$root"} is $(stat -c '%a %u' "$f");"
    done
    for name in $(unit_names "$root"); do
        mapfile -t files < <(unit_files "$root" "$name")
        while IFS=: read -r id path; do
            [ -n "$id" ] || continue
            [ "$path" != /etc/evcs/chargers.json ] || continue
            case "$path" in /etc/evcs/credentials/*) ;; *) bad="$bad $name loads $path from outside credentials/;" ;; esac
            [ -f "$root$path" ] || { bad="$bad $name loads $path, which is missing;"; continue; }
            [ "$(stat -c %a "$root$path")" = 600 ] || bad="$bad $name loads $path, which is not 0600;"
        done < <(sed -n 's/^LoadCredential=//p' "${files[@]}")
        for var in $(sed -n 's/^Environment=//p' "${files[@]}" | tr ' ' '\n' | sed -n 's|^\([A-Z_]*\)=%d/\(.*\)$|\1:\2|p'); do
            grep -q "^LoadCredential=${var#*:}:" "${files[@]}" || bad="$bad $name sets ${var%%:*} to a credential it does not load;"
        done
    done
    [ -z "$bad" ] && ok "credentials: the folder 0700, each file 0600 root's, each one a unit loads exists" ||
        fail "credentials:$bad"
}

# check_no_secret ROOT: no secret outside /etc/evcs/credentials: no credential's password
# (a password file's line; a libpq password file's last field; the cookie) is in any other
# file of the root, and no environment file or unit sets a password or secret.
check_no_secret() {
    local root=$1 creds=$1/etc/evcs/credentials f value values leaks="" keys
    for f in "$creds"/*; do
        case "$f" in
            *.json | *.passwd) continue ;;                  # hashes
            *.passwords) values=$(cut -d' ' -f2 "$f") ;;    # "PILE PASSWORD" lines
            *.pgpass) values=$(head -n 1 "$f" | cut -d: -f5) ;;
            *.conf) values=$(sed -n 's/^remote_password //p' "$f") ;;  # mosquitto's bridge
            *.key) values=$(sed -n '2p' "$f") ;;                         # a PEM key's first line
            *) values=$(head -n 1 "$f") ;;
        esac
        for value in $values; do
            [ "${#value}" -ge 16 ] || { fail "${f#"$root"} holds a short secret: ${#value} characters"; continue; }
            leaks="$leaks$(grep -rlF -e "$value" "$root" | grep -v "^$creds/" || true)"
        done
    done
    # Every assignment of an environment file or an Environment= line: none may be a secret.
    keys=$({ cat "$root"/etc/evcs/*.env 2>/dev/null
             cat "$root"/etc/systemd/system/*.service "$root"/etc/systemd/system/*.d/*.conf 2>/dev/null |
                 sed -n 's/^Environment=//p' | tr ' ' '\n'
           } | grep -E '^[A-Za-z_]*(PASSWORD|SECRET|COOKIE)=' || true)
    [ -z "$leaks" ] && [ -z "$keys" ] &&
        ok "no secret in an environment file, a unit or anywhere outside credentials/" ||
        fail "secrets outside credentials/: in files ${leaks:-none}; set by ${keys:-none}"
}

# check_binaries_read ROOT BUILD: each NAME_FILE a unit sets is one its binary reads: the
# build's binary, given NAME and NAME_FILE both, refuses to start and names both.
check_binaries_read() {
    local root=$1 build=$2 name bin var out bad="" checked=0 chargers args
    chargers=$(mktemp)
    printf '%s\n' '{"chargers": [{"identity": "CP1", "password": "secret-cp1-pass",' \
        '"connectors": [{"connector": 1, "pile": "F1", "mode": "F", "power_kw": 30}]}]}' >"$chargers"
    declare -A built=([station-api]=api/station-api [station-scheduler]=scheduler/service/station-scheduler
        [station-gateway]=gateway/station-gateway [station-pile-sim]=pile-sim/station-pile-sim)
    for name in $(unit_names "$root"); do
        mapfile -t files < <(unit_files "$root" "$name")
        bin=$(sed -n 's|^ExecStart=[^ ]*/\(station-[a-z-]*\) .*|\1|p' "${files[@]}" | head -n 1)
        [ -n "$bin" ] || continue
        for var in $(sed -n 's/^Environment=//p' "${files[@]}" | tr ' ' '\n' | sed -n 's|^\([A-Z_]*\)_FILE=%d/.*|\1|p'); do
            if [ "$var" = STATION_PILE_PASSWORDS ]; then
                # The piles' passwords are read after the options: a broker that is not
                # there, and the gateway a chargers file.
                args=(--broker tcp://127.0.0.1:9)
                [ "$bin" != station-gateway ] || args+=(--chargers "$chargers" --port 0)
                out=$(env STATION_MQTT_PASSWORD=x STATION_PILE_PASSWORDS_FILE=/nonexistent timeout 10 \
                    "$build/${built[$bin]}" "${args[@]}" 2>&1 || true)
                [[ "$out" == *"both STATION_MQTT_PASSWORD and STATION_PILE_PASSWORDS_FILE are set"* ]] ||
                    bad="$bad $bin does not read STATION_PILE_PASSWORDS_FILE ($name): $out;"
            else
                out=$(env "$var=x" "${var}_FILE=/nonexistent" "$build/${built[$bin]}" --help 2>&1 || true)
                [[ "$out" == *"both $var and ${var}_FILE are set"* ]] || bad="$bad $bin does not read ${var}_FILE ($name);"
            fi
            checked=$((checked + 1))
        done
    done
    rm -f "$chargers"
    [ -z "$bad" ] && [ "$checked" -gt 0 ] &&
        ok "each of the $checked NAME_FILE variables the units set is read by its binary" ||
        fail "NAME_FILE variables:$bad (checked $checked)"
}

# verify_units ROOT DIR UNIT...: systemd-analyze verify on copies (in DIR) of the root's
# units and drop-ins whose paths point into the root (verify checks ExecStart is an
# executable); a unit not in the root is this machine's (Debian's rabbitmq-server.service),
# copied with the root's drop-ins. Anything verify prints is a finding.
verify_units() {
    local root=$1 units=$2 u d out
    shift 2
    mkdir -p "$units"
    for u in "$root"/etc/systemd/system/*; do
        if [ -f "$u" ]; then
            sed "s|/usr/local/|$root/usr/local/|g" "$u" >"$units/$(basename "$u")"
        elif [ -d "$u" ]; then
            d=$units/$(basename "$u")
            mkdir -p "$d"
            for f in "$u"/*.conf; do sed "s|/usr/local/|$root/usr/local/|g" "$f" >"$d/$(basename "$f")"; done
        fi
    done
    for u in "$@"; do
        [ -f "$units/$u" ] || cp "/lib/systemd/system/$u" "$units/$u"
    done
    if out=$(cd "$units" && systemd-analyze verify --man=no "${@/#/./}" 2>&1) && [ -z "$out" ]; then
        ok "systemd-analyze verify: $* clean (with their drop-ins)"
    else
        fail "systemd-analyze verify: $out"
    fi
}

# etc_sums ROOT: every file of the root's /etc/evcs (and /etc/rabbitmq, /etc/systemd) with
# its mode and checksum.
etc_sums() {
    local d
    for d in evcs rabbitmq systemd; do
        [ ! -d "$1/etc/$d" ] || (cd "$1/etc" && find "$d" -type f -printf '%p %m ' -exec sha256sum {} \;)
    done | sort
}

# ---- the installed station, running without systemd ------------------------------------------
# start_station_broker ROOT DIR: mosquitto on the root's mosquitto.conf as installed, with
# only its port, password file and included bridge section (the credentials' copies under
# systemd) and persistence folder moved into DIR/broker. Sets port and broker_pid; its log
# is DIR/broker/log.
start_station_broker() {
    local root=$1 dir=$2 etc=$1/etc/evcs
    port=$(free_port)
    mkdir -p "$dir/broker/data"
    cp "$etc/credentials/broker.passwd" "$dir/broker/passwd"
    mkdir -p "$dir/broker/creds"
    # (the bridge's section names the centre's authority by its installed path)
    [ ! -f "$etc/credentials/bridge.conf" ] ||
        sed "s|^bridge_cafile /etc/evcs/|bridge_cafile $etc/|" "$etc/credentials/bridge.conf" >"$dir/broker/creds/bridge.conf"
    if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then  # mosquitto drops to its user
        chown -R mosquitto "$dir/broker/data" "$dir/broker/passwd" "$dir/broker/creds"
        chmod a+r "$etc/evcs.acl"
        chmod a+x "$dir" "$dir/broker" "$root" "$root/etc" "$etc"
    fi
    sed -e "s|^listener 1883 127.0.0.1$|listener $port 127.0.0.1|" \
        -e "s|^password_file .*|password_file $dir/broker/passwd|" \
        -e "s|^acl_file /etc/evcs/evcs.acl$|acl_file $etc/evcs.acl|" \
        -e "s|^persistence_location .*|persistence_location $dir/broker/data/|" \
        -e "s|^include_dir /run/credentials/evcs-broker.service$|include_dir $dir/broker/creds|" \
        "$etc/mosquitto.conf" >"$dir/broker/mosquitto.conf"
    chmod 644 "$dir/broker/mosquitto.conf"
    mosquitto -c "$dir/broker/mosquitto.conf" >"$dir/broker/log" 2>&1 &
    broker_pid=$!
    for _ in $(seq 50); do
        python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null && break
        sleep 0.1
    done
}

# start_unit ROOT DIR UNIT LOG [run_unit.py options]: the installed unit's service as its
# unit runs it (tests/tools/run_unit.py), on the broker of start_station_broker, its state
# folder in DIR/state. Adds its pid to service_pids.
start_unit() {
    local root=$1 dir=$2 unit=$3 log=$4
    shift 4
    mkdir -p "$dir/state/scheduler" "$dir/state/api"
    python3 "$src/tests/tools/run_unit.py" "$root" "$unit" --creds "$dir/creds-$unit" \
        --map "/usr/local=$root/usr/local" --map "/var/lib/evcs=$dir/state" \
        --set "EVCS_BROKER=tcp://127.0.0.1:$port" "$@" >"$log" 2>&1 &
    service_pids+=($!)
}

# admin_login PORT ACCOUNT PASSWORD_FILE: the API's answer code to an admin's login.
admin_login() {
    python3 - "$@" <<'PY'
import json, sys, urllib.request
password = open(sys.argv[3]).readline().strip()
body = json.dumps({"account": sys.argv[2], "password": password}).encode()
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/admin/login", body, timeout=10) as r:
        print(json.load(r)["code"])
except Exception as e:  # the answer, not a stack, in the test's output
    print(e)
PY
}
