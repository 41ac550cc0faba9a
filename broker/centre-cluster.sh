#!/usr/bin/env bash
# The centre's broker as a RabbitMQ cluster with its MQTT plugin (issue #12), on loopback,
# for tests, benchmarks and deploy/run.sh --centre-cluster. Debian's rabbitmq-server,
# run straight from /usr/lib/rabbitmq/bin with a private HOME (its Erlang cookie) and
# fresh folders: no service, no /var/lib/rabbitmq.
#   broker/centre-cluster.sh start DIR [NODES]   start NODES (default 3) nodes, cluster them
#   broker/centre-cluster.sh kill DIR N          kill -9 node N (1-based)
#   broker/centre-cluster.sh restart DIR N       start node N again (it rejoins)
#   broker/centre-cluster.sh stop DIR            stop every node
# DIR receives per node nodeN/ (rabbitmq.conf, data, logs, pid, mqtt.port), and
#   mqtt.addresses  one HOST:PORT per node, the MQTT listeners
#   user, password  the MQTT account the station's bridge and the API log in with
# Durable (QoS 1, persistent-session) subscriptions are quorum queues: replicated on every
# node, so a persistent session outlives the node it was made on. Retained messages are
# per node in RabbitMQ 3.10 (docs/operations.md).
set -euo pipefail
cmd=${1:?usage: centre-cluster.sh start|kill|restart|stop DIR [N]}
dir=${2:?DIR}
bin=/usr/lib/rabbitmq/bin
[ -x "$bin/rabbitmq-server" ] || { echo "rabbitmq-server is not installed (deploy/install-deps.sh)" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
export HOME=$dir/home
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
# Node names are unique per DIR (rN-CHECKSUM@localhost): two clusters on one machine (two
# tests at once) would otherwise meet in epmd under the same names.
cluster_id=$(printf '%s' "$dir" | cksum | cut -d' ' -f1)
node_name() { echo "r$1-$cluster_id@localhost"; }

# A port below the kernel's ephemeral range: a node binds its ports seconds after they are
# chosen, and a port from bind(0) can meanwhile be given to some outgoing connection.
free_port() {
    python3 -c '
import random, socket
top = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(500):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randrange(10000, top) if top > 11000 else 0))
    except OSError:
        s.close()
        continue
    print(s.getsockname()[1])
    s.close()
    break'
}

# node_env N: the environment of node N, for the server and for rabbitmqctl.
node_env() {
    local n=$1 d=$dir/node$1
    RABBITMQ_NODENAME=$(node_name "$n")
    export RABBITMQ_NODENAME
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT=$(cat "$d/amqp.port")
    export RABBITMQ_DIST_PORT=$(cat "$d/dist.port")
    export RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf
    export RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins
    export RABBITMQ_MNESIA_BASE=$d/mnesia
    export RABBITMQ_LOG_BASE=$d/log
    export RABBITMQ_PID_FILE=$d/rabbitmq.pid
    export RABBITMQ_PLUGINS_EXPAND_DIR=$d/plugins-expand
}

ctl() {
    local n=$1
    shift
    (node_env "$n" && "$bin/rabbitmqctl" -n "$(node_name "$n")" "$@")
}

launch() {
    local n=$1 d=$dir/node$1
    (
        node_env "$n"
        # Its own session: a kill of the caller's process group leaves it be (stop does it).
        setsid "$bin/rabbitmq-server" >>"$d/server.out" 2>&1 </dev/null &
        echo $! >"$d/launcher.pid"
    )
}

# wait_up N: until node N answers and has booted (ping first: await_startup fails at once
# on a node not yet reachable).
wait_up() {
    local n=$1
    for _ in $(seq 600); do
        if (node_env "$n" && "$bin/rabbitmq-diagnostics" -n "$(node_name "$n")" -q ping) >/dev/null 2>&1; then
            ctl "$n" await_startup >/dev/null
            return 0
        fi
        sleep 0.1
    done
    echo "node r$n did not start; see $dir/node$n/server.out and $dir/node$n/log" >&2
    tail -n 20 "$dir/node$n/server.out" >&2 || true
    return 1
}

case "$cmd" in
    start)
        nodes=${3:-3}
        rm -rf "$dir"/node* "$dir/home"
        mkdir -p "$HOME"
        python3 -c 'import secrets; print(secrets.token_hex(20).upper(), end="")' >"$HOME/.erlang.cookie"
        chmod 400 "$HOME/.erlang.cookie"
        : >"$dir/mqtt.addresses"
        for n in $(seq "$nodes"); do
            d=$dir/node$n
            mkdir -p "$d/log" "$d/mnesia"
            free_port >"$d/amqp.port"
            free_port >"$d/dist.port"
            free_port >"$d/mqtt.port"
            echo '[rabbitmq_mqtt].' >"$d/enabled_plugins"
            cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$(cat "$d/amqp.port")
mqtt.listeners.tcp.default = 127.0.0.1:$(cat "$d/mqtt.port")
mqtt.allow_anonymous = false
mqtt.durable_queue_type = quorum
# Nagle off, as on the station's brokers: replies and pile commands are prompt.
mqtt.tcp_listen_options.nodelay = true
loopback_users = none
log.file.level = info
EOF
            echo "127.0.0.1:$(cat "$d/mqtt.port")" >>"$dir/mqtt.addresses"
            launch "$n"
        done
        for n in $(seq "$nodes"); do wait_up "$n"; done
        for n in $(seq 2 "$nodes"); do
            ctl "$n" stop_app >/dev/null
            ctl "$n" join_cluster "$(node_name 1)" >/dev/null
            ctl "$n" start_app >/dev/null
        done
        echo evcs >"$dir/user"
        python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$dir/password"
        chmod 600 "$dir/password"
        ctl 1 add_user evcs "$(cat "$dir/password")" >/dev/null
        ctl 1 set_permissions -p / evcs '.*' '.*' '.*' >/dev/null
        ctl 1 delete_user guest >/dev/null
        running=$(ctl 1 cluster_status --formatter json |
            python3 -c 'import json,sys; print(len(json.load(sys.stdin)["running_nodes"]))')
        [ "$running" = "$nodes" ] || { echo "only $running of $nodes nodes in the cluster" >&2; exit 1; }
        echo "RabbitMQ cluster of $nodes nodes, MQTT on $(paste -sd' ' "$dir/mqtt.addresses")"
        ;;
    kill)
        n=${3:?N}
        pid=$(cat "$dir/node$n/rabbitmq.pid")
        kill -9 "$pid"
        ;;
    restart)
        n=${3:?N}
        launch "$n"
        wait_up "$n"
        ;;
    stop)
        for d in "$dir"/node*; do
            [ -d "$d" ] || continue
            n=${d##*node}
            if [ -f "$d/rabbitmq.pid" ] && kill -0 "$(cat "$d/rabbitmq.pid")" 2>/dev/null; then
                ctl "$n" shutdown >/dev/null 2>&1 || kill -9 "$(cat "$d/rabbitmq.pid")" 2>/dev/null || true
            fi
        done
        ;;
    *)
        echo "usage: centre-cluster.sh start|kill|restart|stop DIR [N]" >&2
        exit 2
        ;;
esac
