#!/usr/bin/env bash
# Starts broker/prod.conf with broker/evcs.acl on loopback (deploy/run.sh --secure and the
# tests) and prints its port and PID.
#   broker/start-prod.sh DIR PASSWORD_FILE [PORT]
# PASSWORD_FILE is made by mosquitto_passwd (one user per service and pile). DIR receives
# mosquitto.conf (prod.conf with only its listener address, file paths and log
# destination changed), evcs.acl, data/ (persistence), broker.log, broker.pid and
# broker.port. PORT 0 or none picks a free port. Stop it with: kill "$(cat DIR/broker.pid)".
set -euo pipefail
dir=$1
passwd=$2
port=${3:-0}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$passwd" ] || { echo "start-prod.sh: no password file $passwd" >&2; exit 2; }
passwd=$(cd "$(dirname "$passwd")" && pwd)/$(basename "$passwd")
mkdir -p "$dir/data"
dir=$(cd "$dir" && pwd)
if [ "$port" = 0 ]; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
cp "$here/evcs.acl" "$dir/evcs.acl"
chmod 644 "$dir/evcs.acl"
chmod 600 "$passwd"
# Started as root, mosquitto drops to the "mosquitto" user before it reads the password
# file and the ACL and writes its data: they must be that user's (the password file stays
# 0600).
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown mosquitto "$dir/data" "$passwd"
    chmod a+x "$dir" "$(dirname "$passwd")"  # and reach them
fi
sed -e "s|^listener 1883 .*|listener $port 127.0.0.1|" \
    -e "s|^password_file .*|password_file $passwd|" \
    -e "s|^acl_file .*|acl_file $dir/evcs.acl|" \
    -e "s|^persistence_location .*|persistence_location $dir/data/|" \
    -e "s|^log_dest syslog|log_dest stderr|" "$here/prod.conf" >"$dir/mosquitto.conf"
chmod 644 "$dir/mosquitto.conf"  # no secret in it; mosquitto rereads it on SIGHUP
# Every line changed above must have been found: a prod.conf reworded so that one is not
# would otherwise run here with the deployment's paths or address.
for want in "listener $port 127.0.0.1" "password_file $passwd" "acl_file $dir/evcs.acl" \
    "persistence_location $dir/data/" "log_dest stderr"; do
    grep -qxF "$want" "$dir/mosquitto.conf" ||
        { echo "start-prod.sh: prod.conf has no line to turn into '$want'" >&2; exit 1; }
done
# In the background with its output redirected and its PID kept (stack-notes).
mosquitto -c "$dir/mosquitto.conf" >>"$dir/broker.log" 2>&1 &
pid=$!
echo "$pid" >"$dir/broker.pid"
echo "$port" >"$dir/broker.port"
for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null; then
        echo "broker (prod.conf) on 127.0.0.1:$port (pid $pid)"
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
