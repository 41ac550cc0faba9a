#!/usr/bin/env python3
"""The centre's broker under many bridged stations (issue #12), on loopback.

For each centre (one mosquitto; a three-node RabbitMQ cluster, broker/centre-cluster.sh)
and each number of stations K, starts K station brokers bridged to it
(broker/start-edge.sh, bridge.conf as shipped) and measures, at the centre, what the
stations publish on their change-log topic (QoS 1, 400-byte batches, each stamped with the
time it was published):

  * rate: every station publishes RATE messages a second for SECONDS; the latency from
    publishing at the station to arriving at a subscriber of the centre (p50, p99, max),
    and whether every message arrived;
  * flood: every station publishes FLOOD messages as fast as mosquitto_pub can; messages a
    second arriving at the centre (the centre's ceiling through the bridges).

The subscriber is on the last node of the cluster, the bridges' main node the first: the
messages cross the cluster as they do in production.

    bench/centre_bench.py [--stations 1,10,100] [--rate 20] [--seconds 10] [--flood 2000]
                          [--centres mosquitto,rabbitmq] [--out DIR]
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOPIC = "evcs/v1/station/changes"
AT_CENTRE = "evcs/v1/stations/+/station/changes"  # every station's (broker/bridge.conf)


def run(*args, env=None):
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout


class Centre:
    def __init__(self, kind, folder):
        self.kind = kind
        self.folder = folder
        self.user = self.password = None
        if kind == "rabbitmq":
            run(f"{ROOT}/broker/centre-cluster.sh", "start", folder, "3")
            with open(f"{folder}/mqtt.addresses") as f:
                self.addresses = f.read().split()
            self.user = open(f"{folder}/user").read().strip()
            self.password = open(f"{folder}/password").read().strip()
        else:
            run(f"{ROOT}/broker/start-dev.sh", folder)
            self.addresses = ["127.0.0.1:" + open(f"{folder}/broker.port").read().strip()]

    def login(self):
        return ["-u", self.user, "-P", self.password] if self.user else []

    def stop(self):
        if self.kind == "rabbitmq":
            subprocess.run([f"{ROOT}/broker/centre-cluster.sh", "stop", self.folder],
                           capture_output=True)
        else:
            os.kill(int(open(f"{self.folder}/broker.pid").read()), signal.SIGTERM)


class Edges:
    def __init__(self, centre, count, folder):
        self.folders = []
        env = dict(os.environ)
        if centre.user:
            env["STATION_BRIDGE_USER"] = centre.user
            env["STATION_BRIDGE_PASSWORD"] = centre.password
        for i in range(count):
            d = f"{folder}/edge{i}"
            run(f"{ROOT}/broker/start-edge.sh", d, " ".join(centre.addresses), f"S{i}", env=env)
            self.folders.append(d)
        self.ports = [open(f"{d}/broker.port").read().strip() for d in self.folders]

    def stop(self):
        for d in self.folders:
            try:
                os.kill(int(open(f"{d}/broker.pid").read()), signal.SIGTERM)
            except (OSError, ValueError):
                pass


class Subscriber:
    """mosquitto_sub at the centre; each payload's stamp against its arrival."""

    def __init__(self, centre, expected):
        address = centre.addresses[-1]
        host, port = address.rsplit(":", 1)
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-h", host, "-p", port, *centre.login(), "-q", "1", "-t", AT_CENTRE,
             "-i", f"bench-sub-{os.getpid()}"],
            stdout=subprocess.PIPE, text=True, bufsize=1)
        self.expected = expected
        self.latencies = []
        self.first = self.last = None
        self.done = threading.Event()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.proc.stdout:
            now = time.time()
            try:
                sent = float(line.split(" ", 1)[0])
            except ValueError:
                continue
            self.first = self.first or now
            self.last = now
            self.latencies.append(now - sent)
            if len(self.latencies) >= self.expected:
                self.done.set()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def publishers(ports):
    return [subprocess.Popen(["mosquitto_pub", "-p", p, "-q", "1", "-t", TOPIC, "-l"],
                             stdin=subprocess.PIPE, text=True) for p in ports]


def payload():
    return f"{time.time():.6f} " + "x" * 380 + "\n"


def wait_bridges(edges, centre, seconds=60):
    """Until a probe from every station arrives at the centre (the bridges are up)."""
    sub = Subscriber(centre, len(edges.ports))
    deadline = time.time() + seconds
    while time.time() < deadline and not sub.done.is_set():
        for p in edges.ports:
            subprocess.run(["mosquitto_pub", "-p", p, "-q", "1", "-t", TOPIC, "-m", payload()])
        sub.done.wait(1)
    ok = sub.done.is_set()
    sub.stop()
    return ok


def at_rate(edges, centre, rate, seconds):
    total = len(edges.ports) * rate * seconds
    sub = Subscriber(centre, total)
    time.sleep(0.5)
    pubs = publishers(edges.ports)
    start = time.time()
    for tick in range(rate * seconds):
        for pub in pubs:
            pub.stdin.write(payload())
            pub.stdin.flush()
        pause = start + (tick + 1) / rate - time.time()
        if pause > 0:
            time.sleep(pause)
    for pub in pubs:
        pub.stdin.close()
    for pub in pubs:
        pub.wait()
    sub.done.wait(30)
    sub.stop()
    lat = sorted(sub.latencies)
    if not lat:
        return {"sent": total, "arrived": 0}
    return {"sent": total, "arrived": len(lat),
            "p50_ms": 1000 * statistics.median(lat),
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
            "max_ms": 1000 * lat[-1]}


def flood(edges, centre, count):
    total = len(edges.ports) * count
    sub = Subscriber(centre, total)
    time.sleep(0.5)
    lines = "".join(payload() for _ in range(count))
    pubs = publishers(edges.ports)
    start = time.time()
    for pub in pubs:
        pub.stdin.write(lines)
        pub.stdin.close()
    sub.done.wait(120)
    end = sub.last or time.time()
    for pub in pubs:
        pub.wait()
    sub.stop()
    return {"sent": total, "arrived": len(sub.latencies),
            "per_s": len(sub.latencies) / max(end - start, 1e-9)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stations", default="1,10,100")
    ap.add_argument("--rate", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--flood", type=int, default=2000)
    ap.add_argument("--centres", default="mosquitto,rabbitmq")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench", "out", "centre"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for kind in a.centres.split(","):
        for k in [int(x) for x in a.stations.split(",")]:
            folder = tempfile.mkdtemp(prefix=f"centre-{kind}-{k}-", dir="/tmp")
            os.chmod(folder, 0o711)  # mosquitto, dropping root, reaches its files
            centre = Centre(kind, f"{folder}/centre")
            edges = None
            try:
                t0 = time.time()
                edges = Edges(centre, k, folder)
                if not wait_bridges(edges, centre):
                    print(f"{kind} x{k}: the bridges did not come up", file=sys.stderr)
                    continue
                up = time.time() - t0
                r = at_rate(edges, centre, a.rate, a.seconds)
                f = flood(edges, centre, a.flood)
                rows.append((kind, k, up, r, f))
                print(f"{kind:9} stations {k:3}  bridges up {up:5.1f} s  "
                      f"rate {k * a.rate}/s: {r['arrived']}/{r['sent']} arrived, "
                      f"p50 {r.get('p50_ms', 0):.1f} ms p99 {r.get('p99_ms', 0):.1f} ms "
                      f"max {r.get('max_ms', 0):.1f} ms  flood: {f['arrived']}/{f['sent']} "
                      f"at {f['per_s']:.0f}/s", flush=True)
            finally:
                if edges:
                    edges.stop()
                centre.stop()
                shutil.rmtree(folder, ignore_errors=True)
    with open(os.path.join(a.out, "centre.md"), "w") as out:
        out.write(f"| centre | stations | bridges up (s) | {a.rate}/s per station: arrived | "
                  "p50 ms | p99 ms | max ms | flood: arrived | flood msg/s |\n"
                  "|---|---|---|---|---|---|---|---|---|\n")
        for kind, k, up, r, f in rows:
            out.write(f"| {kind} | {k} | {up:.1f} | {r['arrived']}/{r['sent']} | "
                      f"{r.get('p50_ms', 0):.1f} | {r.get('p99_ms', 0):.1f} | "
                      f"{r.get('max_ms', 0):.1f} | {f['arrived']}/{f['sent']} | "
                      f"{f['per_s']:.0f} |\n")
    print(open(os.path.join(a.out, "centre.md")).read())


if __name__ == "__main__":
    main()
