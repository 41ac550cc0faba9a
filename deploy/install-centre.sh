#!/usr/bin/env bash
# Installs the centre of many stations, on one of its machines, as systemd services (issue
# #12; docs/operations.md, "The centre under systemd"): this machine's node of the centre's
# RabbitMQ cluster (Debian's rabbitmq-server.service with our configuration and a drop-in),
# REST API instances (evcs-api@N.service) on the centre's PostgreSQL, and
# evcs-centre.target, which wants them.
#   deploy/install-centre.sh [--dry-run] [--root DIR] [--prefix DIR] [--nodes H1,H2,...]
#       [--node H|none] [--listen ADDR] [--stations S1,S2,...] [--db URI] [--api N]...
#       [--tls-cert FILE --tls-key FILE --tls-ca FILE] BUILD_DIR
# --nodes   the cluster's machines by host name, the same list in the same order on every
#           machine; each must resolve the others' names. Node rabbit@H, MQTT on H:1883.
# --node    which of them this machine is (default: its short host name); "none" for a
#           machine that runs API instances only.
# --listen  the address of this node's MQTT listener (default: every address).
# --stations  the stations the centre serves (ids: letters, digits, - and _): each gets a
#           broker account bridge-STATION for its bridge, and every API instance serves all.
# --db      the APIs' PostgreSQL, postgresql://USER@HOST:PORT/DB (default
#           postgresql://evcs_api@127.0.0.1:5432/evcs); the password is a credential.
# --api N   an API instance on this machine, N in 1..99, repeatable (default: those with an
#           /etc/evcs/api-N.env, else 1 and 2): port 8080+N, metrics 127.0.0.1:9470+N.
# --tls-cert, --tls-key, --tls-ca  this node's certificate (PEM, naming its host), its key
#           and the authority the stations' bridges check it against: MQTT over TLS on
#           port 8883 beside 1883 (installed as /etc/evcs/centre-tls.pem, centre-ca.pem and
#           the credential centre-tls.key; kept for later runs).
# Run again without them, --nodes, --node, --stations and --db are what /etc/evcs/centre.env
# says.
#
# Files: /etc/rabbitmq/rabbitmq.conf and enabled_plugins, /etc/evcs/centre.env and
# api-N.env (settings: written if absent, else a differing new version beside them as
# FILE.new), the drop-in /etc/systemd/system/rabbitmq-server.service.d/evcs.conf,
# evcs-api@.service and evcs-centre.target, the user evcs-api, station-api and the web
# console. Secrets, in /etc/evcs/credentials (0700; files 0600 root, never overwritten): the
# Erlang cookie, the APIs' broker password, the first admin's password, the database's
# password (a libpq password file), a password per station's bridge, and the users' hashes
# for RabbitMQ (rabbitmq-definitions.json, remade when a password changes). They are the
# same on every machine of the centre: this script makes the missing ones only on the
# first node's machine (the first of --nodes); on the others it stops until they are
# copied from there.
#
# --root DIR installs into DIR (tests, packaging): nothing outside DIR is touched, no
# systemctl is run. Without --root it must run as root and runs systemctl daemon-reload;
# it starts nothing. --dry-run prints what it would do and changes nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
me=install-centre
usage="usage: deploy/install-centre.sh [--dry-run] [--root DIR] [--prefix DIR] [--nodes H1,H2,...] [--node H|none] [--listen ADDR] [--stations S1,S2,...] [--db URI] [--api N]... [--tls-cert FILE --tls-key FILE --tls-ca FILE] BUILD_DIR"
dry=0 root="" prefix=/usr/local nodes="" node="" listen="" stations="" db="" build=""
apis=()
tls_cert="" tls_key="" tls_ca=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry=1; shift ;;
        --root) root=${2:?$usage}; shift 2 ;;
        --prefix) prefix=${2:?$usage}; shift 2 ;;
        --nodes) nodes=${2:?$usage}; shift 2 ;;
        --node) node=${2:?$usage}; shift 2 ;;
        --listen) listen=${2:?$usage}; shift 2 ;;
        --stations) stations=${2:?$usage}; shift 2 ;;
        --db) db=${2:?$usage}; shift 2 ;;
        --api) apis+=("${2:?$usage}"); shift 2 ;;
        --tls-cert) tls_cert=${2:?$usage}; shift 2 ;;
        --tls-key) tls_key=${2:?$usage}; shift 2 ;;
        --tls-ca) tls_ca=${2:?$usage}; shift 2 ;;
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
if [ -n "$tls_cert$tls_key$tls_ca" ]; then
    { [ -n "$tls_cert" ] && [ -n "$tls_key" ] && [ -n "$tls_ca" ]; } ||
        { echo "$me: --tls-cert, --tls-key and --tls-ca go together" >&2; exit 2; }
    for f in "$tls_cert" "$tls_ca"; do
        grep -q -- "-----BEGIN CERTIFICATE-----" "$f" 2>/dev/null ||
            { echo "$me: $f is not a readable PEM certificate" >&2; exit 2; }
    done
    grep -q -- "-----BEGIN .*PRIVATE KEY-----" "$tls_key" 2>/dev/null ||
        { echo "$me: $tls_key is not a readable PEM private key" >&2; exit 2; }
fi
etc=$root/etc/evcs
units=$root/etc/systemd/system
rabbit=$root/etc/rabbitmq
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
chmod 700 "$scratch"
# shellcheck source=deploy/install-lib.sh
. "$here/install-lib.sh"

# ---- the centre's settings: the options, else what centre.env says -----------------------
[ -n "$nodes" ] || nodes=$(env_value "$etc/centre.env" EVCS_CENTRE_NODES)
[ -n "$node" ] || node=$(env_value "$etc/centre.env" EVCS_CENTRE_NODE)
[ -n "$stations" ] || stations=$(env_value "$etc/centre.env" EVCS_STATIONS)
[ -n "$db" ] || db=$(env_value "$etc/centre.env" EVCS_DB)
db=${db:-postgresql://evcs_api@127.0.0.1:5432/evcs}
[ -n "$nodes" ] || die "--nodes is needed (the cluster's machines, e.g. --nodes c1,c2,c3)"
[ -n "$stations" ] || die "--stations is needed (the stations the centre serves, e.g. --stations S1,S2)"
IFS=, read -r -a node_list <<<"$nodes"
IFS=, read -r -a station_list <<<"$stations"
for h in "${node_list[@]}"; do
    [[ "$h" =~ ^[A-Za-z0-9][A-Za-z0-9-]*$ ]] || die "--nodes: '$h' is not a short host name"
done
for s in "${station_list[@]}"; do
    [[ "$s" =~ ^[A-Za-z0-9_-]+$ ]] || die "--stations: '$s' is not a station id (letters, digits, - and _)"
done
[[ "$db" =~ ^postgresql://[^:@/]+@[^/]+/[^/?]+ ]] ||
    die "--db: '$db' is not postgresql://USER@HOST:PORT/DB (no password in it: that is a credential)"
node=${node:-$(hostname -s)}
node_index=0   # where this machine's instances start in the list of nodes
if [ "$node" != none ]; then
    found=""
    for i in "${!node_list[@]}"; do [ "${node_list[$i]}" != "$node" ] || found=$i; done
    [ -n "$found" ] || die "this machine ($node) is not one of --nodes $nodes: give --node H, or --node none"
    node_index=$found
fi
first_machine=0 first_config=0
[ "$node" != "${node_list[0]}" ] || first_machine=1
if [ ${#apis[@]} -eq 0 ]; then
    for f in "$etc"/api-*.env; do
        [ -f "$f" ] || continue
        n=${f##*/api-}
        apis+=("${n%.env}")
    done
    [ ${#apis[@]} -gt 0 ] || apis=(1 2)
fi
for n in "${apis[@]}"; do
    [[ "$n" =~ ^[1-9][0-9]?$ ]] || die "--api: '$n' is not an instance number (1 to 99)"
done
mapfile -t apis < <(printf '%s\n' "${apis[@]}" | sort -n -u)

# The secrets, the same on every machine of the centre: made on the first node's machine
# only; elsewhere they must have been copied from there before.
secret_files=(erlang.cookie centre-api.mqtt centre-api.admin centre-api.pgpass)
for s in "${station_list[@]}"; do secret_files+=("bridge-$s.mqtt"); done
if [ "$first_machine" = 0 ]; then
    missing=()
    for f in "${secret_files[@]}"; do [ -f "$etc/credentials/$f" ] || missing+=("$f"); done
    [ ${#missing[@]} -eq 0 ] ||
        die "/etc/evcs/credentials lacks ${missing[*]}: the centre's secrets are made on the first" \
            "node's machine (${node_list[0]}); copy them from there (docs/operations.md, \"The centre" \
            "under systemd\"), then run again"
fi

# ---- files that are ours: replaced on every run ----------------------------------------
for bin in station-api station-db-copy; do
    [ -x "$build/api/$bin" ] || die "$build/api/$bin is missing: build it first (README)"
    say "$bin into $root$prefix/bin"
    install_file "$build/api/$bin" "$root$prefix/bin/$bin" 0755
done
install_web
install_file "$src/docs/operations.md" "$root$prefix/share/doc/evcs/operations.md" 0644
say "units into $units"
install_file "$src/deploy/systemd/evcs-api@.service" "$units/evcs-api@.service" 0644 "$(prefix_script)"
wants=""
[ "$node" = none ] || wants="rabbitmq-server.service"
for n in "${apis[@]}"; do wants="$wants evcs-api@$n.service"; done
install_file "$src/deploy/systemd/evcs-centre.target" "$units/evcs-centre.target" 0644 \
    "$(prefix_script);s|@WANTS@|${wants# }|"
if [ "$node" = none ]; then
    remove_file "$units/rabbitmq-server.service.d/evcs.conf"
else
    install_file "$src/deploy/systemd/rabbitmq-server-evcs.conf" "$units/rabbitmq-server.service.d/evcs.conf" 0644
fi
install_file "$src/deploy/systemd/evcs-centre.sysusers" "$root/etc/sysusers.d/evcs-centre.conf" 0644
make_users "$root/etc/sysusers.d/evcs-centre.conf"

# ---- settings: written if absent, else a differing new version beside them ---------------
if [ "$dry" = 1 ]; then
    [ -d "$etc" ] || echo "would create $etc (0755)"
else
    mkdir -p "$etc"
    chmod 0755 "$etc"
fi
cat >"$scratch/centre.env" <<EOF
# The centre's settings, read by every evcs-api@ instance (not secret: secrets are in
# /etc/evcs/credentials). docs/operations.md says what each does.
EVCS_CENTRE_NODES=$nodes
EVCS_CENTRE_NODE=$node
# The stations every instance serves (a request names one with ?station=; the first by default).
EVCS_STATIONS=$stations
# The database all instances share; its password is /etc/evcs/credentials/centre-api.pgpass.
EVCS_DB=$db
# The first admin, made at the first start with the password in credentials/centre-api.admin.
STATION_ADMIN_ACCOUNT=admin@station.local
# Options of every instance (--threads N, --token-hours H ...); an instance's own are in api-N.env.
EVCS_API_COMMON_ARGS=
EOF
settle "$scratch/centre.env" "$etc/centre.env" 0644
host=$node
[ "$host" != none ] || host=$(hostname -s)
for n in "${apis[@]}"; do
    # Each instance lists the nodes from another one on, so the instances spread over them.
    brokers=""
    for ((k = 0; k < ${#node_list[@]}; k++)); do
        brokers="$brokers,tcp://${node_list[(node_index + n - 1 + k) % ${#node_list[@]}]}:1883"
    done
    cat >"$scratch/api.env" <<EOF
# API instance $n on this machine (evcs-api@$n.service); the centre's settings are in centre.env.
# The cluster's nodes, tried in turn (this instance's first one first).
EVCS_BROKER=${brokers#,}
# Unique in the centre: the broker keeps this instance's session under it.
EVCS_API_CLIENT_ID=station-api-$host-$n
# --host 0.0.0.0 to serve the network (behind a TLS reverse proxy or load balancer).
EVCS_API_ARGS=--host 127.0.0.1 --port $((8080 + n)) --metrics 127.0.0.1:$((9470 + n))
EOF
    settle "$scratch/api.env" "$etc/api-$n.env" 0644
done
# The node's TLS certificate, authority and key (--tls-*): replaced when given.
if [ -n "$tls_cert" ]; then
    install_file "$tls_cert" "$etc/centre-tls.pem" 0644
    install_file "$tls_ca" "$etc/centre-ca.pem" 0644
    make_creds_dir
    if [ "$dry" = 1 ]; then
        echo "would install $creds/centre-tls.key (0600, root)"
    elif ! cmp -s "$tls_key" "$creds/centre-tls.key"; then
        tmp=$(mktemp "$creds/centre-tls.key.XXXXXX")
        chmod 600 "$tmp"
        cat "$tls_key" >"$tmp"
        mv -f "$tmp" "$creds/centre-tls.key"
        say "installed $creds/centre-tls.key (0600; restart rabbitmq-server to take it)"
    fi
fi
if [ "$node" != none ]; then
    listener=1883
    tls_line="mqtt.listeners.ssl.default = 8883"
    [ -z "$listen" ] || tls_line="mqtt.listeners.ssl.default = $listen:8883"
    [ -z "$listen" ] || listener=$listen:1883
    {
        cat <<EOF
# This machine's node of the centre's RabbitMQ cluster (deploy/install-centre.sh;
# docs/operations.md, "The centre under systemd"). The same on every node but the listener.
# AMQP on loopback only: the stations' bridges and the API instances speak MQTT, and the
# nodes talk among themselves over Erlang distribution (epmd 4369, port 25672).
listeners.tcp.default = 127.0.0.1:5672
mqtt.listeners.tcp.default = $listener
mqtt.allow_anonymous = false
# A persistent session (a bridge's, an API instance's) is a queue replicated on the nodes:
# it outlives the node it was made on.
mqtt.durable_queue_type = quorum
mqtt.tcp_listen_options.nodelay = true
# The users and their permissions (hashes only): a credential of rabbitmq-server.service,
# imported at every start. No default guest user is made.
definitions.import_backend = local_filesystem
definitions.local.path = /run/credentials/rabbitmq-server.service/definitions.json
# A fresh node joins the first of these it reaches (or forms the cluster if it is first).
cluster_formation.peer_discovery_backend = classic_config
EOF
        for i in "${!node_list[@]}"; do
            echo "cluster_formation.classic_config.nodes.$((i + 1)) = rabbit@${node_list[$i]}"
        done
        if [ -n "$tls_cert" ] || [ -f "$etc/centre-tls.pem" ]; then
            cat <<EOF
# MQTT over TLS for the stations' bridges: this node's certificate and the authority
# (/etc/evcs, --tls-cert and --tls-ca), its key a credential of rabbitmq-server.service.
$tls_line
ssl_options.certfile = /etc/evcs/centre-tls.pem
ssl_options.cacertfile = /etc/evcs/centre-ca.pem
ssl_options.keyfile = /run/credentials/rabbitmq-server.service/tls.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
EOF
        fi
        if [ ${#node_list[@]} -ge 3 ]; then
            echo "# Nodes cut off from the majority pause rather than serve a split cluster."
            echo "cluster_partition_handling = pause_minority"
        fi
    } >"$scratch/rabbitmq.conf"
    [ -e "$rabbit/rabbitmq.conf" ] || first_config=1
    settle "$scratch/rabbitmq.conf" "$rabbit/rabbitmq.conf" 0644
    if [ -n "$tls_cert" ] && [ "$dry" = 0 ] && ! grep -qxF "$tls_line" "$rabbit/rabbitmq.conf"; then
        die "$rabbit/rabbitmq.conf was kept (edited or older) and lacks '$tls_line':" \
            "merge $rabbit/rabbitmq.conf.new into it, then run again"
    fi
    echo '[rabbitmq_mqtt].' >"$scratch/enabled_plugins"
    settle "$scratch/enabled_plugins" "$rabbit/enabled_plugins" 0644
fi

# ---- secrets: made if absent (on the first node's machine: checked above) ---------------
make_creds_dir
for f in "${secret_files[@]}"; do
    has_secret "$creds/$f" && continue
    case "$f" in
        erlang.cookie) value=$(python3 -c 'import secrets; print(secrets.token_hex(20).upper())') ;;
        # libpq's password file: any host, port, database and user (the URI names them).
        *.pgpass) value="*:*:*:*:$(new_secret)" ;;
        *) value=$(new_secret) ;;
    esac
    write_secret "$creds/$f" "$value"
done
# The users' hashes, remade from the password files (a hash is kept while it matches).
definitions=$creds/rabbitmq-definitions.json
if [ "$dry" = 1 ]; then
    if ! has_secret "$definitions"; then
        echo "would create $definitions (0600, root): users api$(printf " bridge-%s" "${station_list[@]}")"
    fi
else
    args=("$creds/centre-api.mqtt")
    for s in "${station_list[@]}"; do args+=("$s=$creds/bridge-$s.mqtt"); done
    old=-
    [ ! -f "$definitions" ] || old=$definitions
    (umask 077 && python3 "$here/rabbitmq-definitions.py" "$old" "${args[@]}" >"$scratch/definitions.json")
    if ! cmp -s "$scratch/definitions.json" "$definitions"; then
        chmod 600 "$scratch/definitions.json"
        mv -f "$scratch/definitions.json" "$definitions"
        say "wrote $definitions (restart the nodes one at a time to import it)"
    fi
fi
# The node's TLS key: a drop-in hands it over while the credential exists.
if [ "$node" = none ]; then
    remove_file "$units/rabbitmq-server.service.d/tls.conf"
else
    optional_dropin "$creds/centre-tls.key" "$src/deploy/systemd/rabbitmq-server-evcs-tls.conf" \
        "$units/rabbitmq-server.service.d/tls.conf"
fi

# ---- the running system -----------------------------------------------------------------
if [ "$first_config" = 1 ] && compgen -G "$root/var/lib/rabbitmq/mnesia/rabbit@*" >/dev/null; then
    say "note: $root/var/lib/rabbitmq/mnesia has a node's data: a node joins the cluster only" \
        "when it starts empty. If this node is not in the cluster yet (Debian starts a node of its own" \
        "when the package is installed), empty it before the first start (docs/operations.md)."
fi
[ -n "$root" ] || run systemctl daemon-reload
say "done. Next (docs/operations.md): the same install on every machine of the centre" \
    "(credentials copied from ${node_list[0]}), the database's role, then systemctl enable --now evcs-centre.target"
