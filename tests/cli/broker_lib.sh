# Helpers of the broker tests (tests/cli/broker_*.sh), sourced after `set -euo pipefail`.
# Each test works in its own temporary folder and on free loopback ports.

# broker_prod DIR USER...: starts broker/prod.conf with evcs.acl (broker/start-prod.sh) in
# DIR, each USER with the password pw-USER. Sets broker_port and broker_pid.
broker_prod() {
    local dir=$1 user
    shift
    mkdir -p "$dir"
    : >"$dir/passwd"
    for user in "$@"; do
        mosquitto_passwd -b "$dir/passwd" "$user" "pw-$user"
    done
    "$src/broker/start-prod.sh" "$dir/broker" "$dir/passwd" >/dev/null
    broker_port=$(cat "$dir/broker/broker.port")
    broker_pid=$(cat "$dir/broker/broker.pid")
}

# broker_dev DIR: starts broker/dev.conf (broker/start-dev.sh) in DIR. Sets broker_port and
# broker_pid.
broker_dev() {
    "$src/broker/start-dev.sh" "$1/broker" >/dev/null
    broker_port=$(cat "$1/broker/broker.port")
    broker_pid=$(cat "$1/broker/broker.pid")
}

# as USER ARGS...: the options of mosquitto_pub/mosquitto_sub for USER on the broker
# (anonymous for USER "-").
as() {
    local user=$1
    shift
    if [ "$user" = - ]; then
        echo -h 127.0.0.1 -p "$broker_port" -q 1 "$@"
    else
        echo -h 127.0.0.1 -p "$broker_port" -u "$user" -P "pw-$user" -q 1 "$@"
    fi
}

# listening PID: the ADDRESS:PORT of every TCP socket process PID listens on, one a line.
listening() {
    python3 - "$1" <<'PY'
import os, socket, struct, sys
pid = sys.argv[1]
inodes = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    if target.startswith("socket:["):
        inodes.add(target[8:-1])
for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
    try:
        lines = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        f = line.split()
        if f[3] != "0A" or f[9] not in inodes:  # 0A: LISTEN
            continue
        hexaddr, hexport = f[1].split(":")
        raw = bytes.fromhex(hexaddr)
        # /proc prints the address as 32-bit words in host (little-endian) order.
        raw = b"".join(struct.pack("<I", struct.unpack(">I", raw[i:i + 4])[0])
                       for i in range(0, len(raw), 4))
        print(f"{socket.inet_ntop(family, raw)}:{int(hexport, 16)}")
PY
}

fails=0
# free_port: a loopback port for a server to listen on (tests/tools/free_port.py).
free_port() { python3 "$src/tests/tools/free_port.py"; }

ok() { echo "ok: $1"; }
fail() {
    echo "FAIL: $1"
    fails=$((fails + 1))
}

# stop_broker FOLDER: stops the broker start-dev.sh / start-prod.sh started in FOLDER and
# waits (up to 5 s, then SIGKILL) until it is gone: mosquitto saves its persistence on the
# way out, and a folder removed under it fails the cleanup.
stop_broker() {
    local file=$1/broker.pid pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        # Gone, or a zombie nobody reaps (PID 1 in a container need not).
        if [ ! -d "/proc/$pid" ] || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then
            return 0
        fi
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

# tls_authority DIR: a test certificate authority valid two days: DIR/ca.pem, DIR/ca.key.
tls_authority() {
    mkdir -p "$1"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test CA $(basename "$1")" \
        -keyout "$1/ca.key" -out "$1/ca.pem" 2>/dev/null
}
# tls_certificate DIR NAME SAN: DIR/NAME.pem and DIR/NAME.key, issued by DIR's authority for
# the subjectAltName SAN (e.g. IP:127.0.0.1 or DNS:c1,IP:127.0.0.1).
tls_certificate() {
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1/$2.key" -out "$1/$2.csr" 2>/dev/null
    printf 'subjectAltName=%s\n' "$3" >"$1/$2.ext"
    openssl x509 -req -in "$1/$2.csr" -CA "$1/ca.pem" -CAkey "$1/ca.key" -CAcreateserial -days 2 \
        -extfile "$1/$2.ext" -out "$1/$2.pem" 2>/dev/null
}
