#!/usr/bin/env bash
# Starts a station's (edge) development broker on loopback, bridged to a centre broker,
# and prints its port and PID.
#   broker/start-edge.sh DIR CENTRE_HOST:PORT STATION_ID [PORT]
# As start-dev.sh (dev.conf, persistence in DIR/data, broker.log, broker.pid, broker.port),
# plus bridge.conf: the connection is named bridge-STATION_ID (its client id at the centre).
set -euo pipefail
dir=$1
centre=$2
station=$3
port=${4:-0}
here=$(cd "$(dirname "$0")" && pwd)
case "$station" in
    *[!A-Za-z0-9_-]* | "") echo "a station id is letters, digits, - and _: '$station'" >&2; exit 2 ;;
esac
mkdir -p "$dir"
sed -e "s|@NAME@|bridge-$station|g" -e "s|@ADDRESS@|$centre|g" "$here/bridge.conf" >"$dir/bridge.conf"
STATION_BROKER_EXTRA_CONF="$dir/bridge.conf" exec "$here/start-dev.sh" "$dir" "$port"
