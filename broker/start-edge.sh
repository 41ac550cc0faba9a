#!/usr/bin/env bash
# Starts a station's (edge) development broker on loopback, bridged to a centre broker,
# and prints its port and PID.
#   broker/start-edge.sh DIR CENTRE STATION_ID [PORT]
# CENTRE is HOST:PORT, or several separated by blanks or commas (the nodes of a cluster:
# broker/centre-cluster.sh writes them to mqtt.addresses). As start-dev.sh (dev.conf,
# persistence in DIR/data, broker.log, broker.pid, broker.port), plus bridge.conf: the
# connection is named bridge-STATION_ID (its client id at the centre), and the station's
# topics are under evcs/v1/stations/STATION_ID/ at the centre. With
# STATION_BRIDGE_USER set, the bridge logs in at the centre as that user with the password
# in STATION_BRIDGE_PASSWORD or in the file STATION_BRIDGE_PASSWORD_FILE.
set -euo pipefail
dir=$1
centre=$2
station=$3
port=${4:-0}
here=$(cd "$(dirname "$0")" && pwd)
case "$station" in
    *[!A-Za-z0-9_-]* | "") echo "a station id is letters, digits, - and _: '$station'" >&2; exit 2 ;;
esac
addresses=$(echo "$centre" | tr ',\n' '  ' | xargs)
case "$addresses" in
    *[!A-Za-z0-9.:\ _-]* | "") echo "CENTRE is HOST:PORT[,HOST:PORT...]: '$centre'" >&2; exit 2 ;;
esac
mkdir -p "$dir"
old_umask=$(umask)
umask 077  # the bridge's password may be in there
sed -e "s|@NAME@|bridge-$station|g" -e "s|@STATION@|$station|g" -e "s|@ADDRESSES@|$addresses|g" "$here/bridge.conf" >"$dir/bridge.conf"
if [ -n "${STATION_BRIDGE_USER:-}" ]; then
    password=${STATION_BRIDGE_PASSWORD:-}
    [ -n "${STATION_BRIDGE_PASSWORD_FILE:-}" ] && password=$(cat "$STATION_BRIDGE_PASSWORD_FILE")
    printf 'remote_username %s\nremote_password %s\n' "$STATION_BRIDGE_USER" "$password" >>"$dir/bridge.conf"
fi
umask "$old_umask"
STATION_BROKER_EXTRA_CONF="$dir/bridge.conf" exec "$here/start-dev.sh" "$dir" "$port"
