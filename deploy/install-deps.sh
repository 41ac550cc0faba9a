#!/usr/bin/env bash
# Installs every Debian package the project needs. Non-interactive and idempotent:
# packages already present are left alone, and apt is only asked when one is missing.
set -euo pipefail

packages=(
    g++ make cmake ninja-build python3 ca-certificates
    libssl-dev                          # Paho's CMake config needs OpenSSL (stack-notes)
    openssl                             # test certificate authorities of the TLS tests
    libpaho-mqttpp-dev libpaho-mqtt-dev  # MQTT client (scheduler, pile-sim)
    mosquitto mosquitto-clients          # broker and its CLI tools
    libpoco-dev                          # HTTP server, SQLite, JWT (api)
    libsqlite3-dev                       # the store's prepared statements (api/src/sql_connection)
    prometheus-cpp-dev                   # the services' /metrics (common/metrics)
    libsystemd-dev pkg-config            # sd_notify: readiness under systemd (common/cli)
    nlohmann-json3-dev                   # JSON
    catch2                               # unit tests (v2)
    time                                 # /usr/bin/time for the benchmarks' peak memory
    curl                                 # the README's REST session and run.sh's demo
    wrk                                  # HTTP load for bench/api_bench.sh
    clang-format                         # the code's format, checked by the suite
    clang libclang-rt-14-dev             # the fuzz build: clang 14 and its libFuzzer/ASan runtimes
    llvm                                 # llvm-symbolizer: readable sanitizer and fuzzer stacks
    chromium fonts-wqy-microhei          # the web console's browser tests (tests/web): headless
                                         # chromium for playwright-core, a CJK font for its screenshots
    systemd                              # systemd-analyze: the deploy test verifies the units offline
                                         # (absent from container images; a booted Debian has it)
    sqlite3                              # the runbook's online backup of the API's database
    prometheus                           # promtool: the suite checks every service's /metrics
                                         # (its server is not wanted here: see below)
    libpq-dev                            # the API's PostgreSQL store (POCO's connector needs its headers)
    postgresql-15                        # the suite runs the API's tests on PostgreSQL too, on a
                                         # server of its own (tests/tools/pg_test_server.sh)
    rabbitmq-server                      # the centre's clustered broker (broker/centre-cluster.sh)
)
# Node.js and npm validate the API documents (docs/tools); the machine's own newer
# Node.js is used where there is one.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts the Prometheus server it installs (on every address, port 9090); only its
# promtool is used: a server this script brought is stopped and disabled again.
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    "${sudo_cmd[@]}" systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
# Likewise the RabbitMQ node Debian starts (with epmd on every address): the centre's
# nodes are started by broker/centre-cluster.sh or by their own units.
if [[ " ${missing[*]} " == *" rabbitmq-server "* ]] && [ -d /run/systemd/system ]; then
    "${sudo_cmd[@]}" systemctl disable --now rabbitmq-server.service epmd.socket epmd.service >/dev/null 2>&1 || true
fi
# Likewise Debian's PostgreSQL makes and starts a cluster on port 5432: the tests start
# their own server, so one this script brought is stopped (and not started at boot).
if [[ " ${missing[*]} " == *" postgresql-15 "* ]]; then
    if [ -d /run/systemd/system ]; then
        "${sudo_cmd[@]}" systemctl disable --now postgresql.service >/dev/null 2>&1 || true
    else
        "${sudo_cmd[@]}" pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
    fi
fi
