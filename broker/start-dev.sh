#!/usr/bin/env bash
# Starts a development broker on loopback and prints its port and PID.
#   broker/start-dev.sh DIR [PORT]
# DIR receives mosquitto.conf, data/ (persistence), broker.log, broker.pid and
# broker.port. PORT 0 or none picks a free port. Stop it with: kill "$(cat DIR/broker.pid)".
set -euo pipefail
dir=$1
port=${2:-0}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ "$port" = 0 ]; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
# Started as root, mosquitto drops to the "mosquitto" user: its data folder must be that
# user's to write.
mkdir -p "$dir/data"
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown mosquitto "$dir/data"
    chmod a+x "$dir"  # and reach it
fi
# The listener comes first, so that any listener option in dev.conf is this listener's
# (above every listener line, mosquitto would open a second one on 0.0.0.0:1883). Only
# root reads it (mosquitto reads it before dropping root): a bridge's password is in it.
old_umask=$(umask)
umask 077
{
    echo "listener $port 127.0.0.1"
    cat "$here/dev.conf"
    echo "persistence_location $dir/data/"
    # start-edge.sh: the bridge to the centre, after everything that is this listener's.
    if [ -n "${STATION_BROKER_EXTRA_CONF:-}" ]; then
        cat "$STATION_BROKER_EXTRA_CONF"
    fi
} >"$dir/mosquitto.conf"
umask "$old_umask"
# Started in the background with its output redirected and its PID kept: mosquitto -d
# with a root-owned pid file can die silently (stack-notes).
mosquitto -c "$dir/mosquitto.conf" >>"$dir/broker.log" 2>&1 &
pid=$!
echo "$pid" >"$dir/broker.pid"
echo "$port" >"$dir/broker.port"
for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null; then
        echo "broker on 127.0.0.1:$port (pid $pid)"
        exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "mosquitto exited; see $dir/broker.log" >&2
        cat "$dir/broker.log" >&2
        exit 1
    fi
    sleep 0.05
done
echo "mosquitto did not listen on $port within 5 s" >&2
exit 1
