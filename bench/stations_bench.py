#!/usr/bin/env python3
"""K stations at work on one centre (issue #12), on loopback.

For each number of stations K, starts one centre (a three-node RabbitMQ cluster,
broker/centre-cluster.sh; or one mosquitto, --centre mosquitto) and K real stations
S1..SK at the edge, each its own mosquitto (broker/start-edge.sh, bridged to the centre),
station-scheduler (simulated clock, its journal) and station-pile-sim (one MQTT client per
pile) on a profile of --piles piles; then two station-api instances at the centre serving
all K stations (--station S1,...,SK), one on PostgreSQL 15 (tests/tools/pg_test_server.sh,
fsync on), one on a SQLite file, both copying every station's change log. Measures:

  * start-up: from launching the stations until every station's scheduler answers a
    request sent through the centre, and from launching the APIs until both show every
    station with its piles online;
  * load (bench/stations_load): every station asked for orders straight over its own
    broker (submit/cancel at --rate a second, --window open at most), its piles charging;
    messages a second arriving at the centre (evcs/v1/stations/#, idle and under load),
    and the replication lag station -> database, PostgreSQL and SQLite, from a change's
    reply at the station (and from each change batch the station publishes) to the
    database's position for that station (log_position) reaching it;
  * a change alone: --alone create+cancel pairs one after the other through each API
    (the time of one change through the centre, nothing queued in front of it);
  * REST (wrk, --connections, 2 threads, --wrk-seconds each), on each API in turn:
    GET /admin/index/manage (each request the next station), GET /client/index/order
    ?mode=CURRENT, and create+cancel order pairs spread over the stations;
  * memory (RSS) of the centre's Erlang nodes, the APIs, PostgreSQL and the stations, and
    the CPU each took during the load.

    bench/stations_bench.py [--stations 1,10,100] [--piles 20] [--seconds 30] [--rate 0.5]
                            [--window 5] [--wrk-seconds 10] [--connections 64] [--alone 20]
                            [--sim-speed 600] [--telemetry-hz 1] [--centre rabbitmq]
                            [--build DIR] [--out DIR] [--bridge-nodelay] [--keep]

The build (default build/bench: cmake -DSTATION_BUILD_BENCH=ON, targets station-scheduler
station-pile-sim station-api stations_load) is used as it is. Every process started here
is ended on exit (also on Ctrl-C or SIGTERM), by its PID.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RABBIT = "/usr/lib/rabbitmq/bin/rabbitmq-server"
BINARIES = {
    "scheduler": "scheduler/service/station-scheduler",
    "pile_sim": "pile-sim/station-pile-sim",
    "api": "api/station-api",
    "load": "bench/stations_load",
    "nodelay": "bench/libtcp_nodelay_preload.so",
}
ADMIN = ("bench@station.local", "bench-admin")
SIM_START = "2026-12-04 06:00:00"
PAGE = 4096


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(*args, env=None):
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout


# ---------------------------------------------------------------------------------------
# /proc: memory and CPU of processes

CLK = os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE // 1024
    except (OSError, ValueError, IndexError):
        return 0


def cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except (OSError, ValueError, IndexError):
        return 0.0


def children(pid):
    """Every descendant of pid (from /proc)."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


# ---------------------------------------------------------------------------------------
# The system of one run

class Run:
    def __init__(self, a, k, folder, bins):
        self.a, self.k, self.folder, self.bins = a, k, folder, bins
        self.procs = []  # Popen of the services started here (schedulers, pile-sims, APIs)
        self.edge_dirs = []
        self.centre_dir = f"{folder}/centre"
        self.pg_dir = f"{folder}/pg"
        self.centre_started = self.pg_started = False
        self.user = self.password = None
        self.ids = [f"S{i + 1}" for i in range(k)]

    # -- centre ------------------------------------------------------------------------
    def start_centre(self):
        t0 = time.time()
        self.centre_started = True
        if self.a.centre == "rabbitmq":
            run(f"{ROOT}/broker/centre-cluster.sh", "start", self.centre_dir, "3")
            with open(f"{self.centre_dir}/mqtt.addresses") as f:
                self.addresses = f.read().split()
            self.user = open(f"{self.centre_dir}/user").read().strip()
            self.password = open(f"{self.centre_dir}/password").read().strip()
        else:
            run(f"{ROOT}/broker/start-dev.sh", self.centre_dir)
            self.addresses = ["127.0.0.1:" + open(f"{self.centre_dir}/broker.port").read().strip()]
        return time.time() - t0

    def centre_pids(self):
        if self.a.centre == "rabbitmq":
            pids = []
            for n in (1, 2, 3):
                try:
                    pids.append(int(open(f"{self.centre_dir}/node{n}/rabbitmq.pid").read()))
                except (OSError, ValueError):
                    pass
            return pids
        return [int(open(f"{self.centre_dir}/broker.pid").read())]

    def login_args(self):
        return ["-u", self.user, "-P", self.password] if self.user else []

    # -- PostgreSQL --------------------------------------------------------------------
    def start_pg(self):
        self.pg_started = True
        env = dict(os.environ, PG_FSYNC="on")
        server = run(f"{ROOT}/tests/tools/pg_test_server.sh", "start", self.pg_dir, env=env).strip()
        run("psql", server, "-qc", "CREATE DATABASE bench")
        self.pg_uri = server.rsplit("/", 1)[0] + "/bench"

    def pg_pids(self):
        try:
            top = int(open(f"{self.pg_dir}/data/postmaster.pid").readline())
        except (OSError, ValueError):
            return []
        return [top] + children(top)

    # -- stations ----------------------------------------------------------------------
    def write_profile(self):
        """--piles piles: half fast (30 kW), half slow (10 kW), 3 places each, a waiting
        area of 200 (so that the REST pairs' 64 connections are never refused at one
        station)."""
        fast = (self.a.piles + 1) // 2
        piles = [{"id": f"F{i}", "mode": "F", "power": 30} for i in range(1, fast + 1)]
        piles += [{"id": f"T{i}", "mode": "T", "power": 10} for i in range(1, self.a.piles - fast + 1)]
        self.profile = f"{self.folder}/profile.json"
        with open(self.profile, "w") as f:
            json.dump({"name": f"bench-{self.a.piles}", "waiting_area": 200, "queue_length": 3,
                       "piles": piles}, f)

    def start_stations(self):
        env = dict(os.environ)
        if self.a.bridge_nodelay:
            env["LD_PRELOAD"] = self.bins["nodelay"]
        if self.user:
            env["STATION_BRIDGE_USER"] = self.user
            env["STATION_BRIDGE_PASSWORD"] = self.password
        self.edge_dirs = [f"{self.folder}/edge-{s}" for s in self.ids]

        def edge(i):
            run(f"{ROOT}/broker/start-edge.sh", self.edge_dirs[i], " ".join(self.addresses),
                self.ids[i], env=env)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(edge, range(self.k)))
        self.edge_ports = [open(f"{d}/broker.port").read().strip() for d in self.edge_dirs]
        for s, d, port in zip(self.ids, self.edge_dirs, self.edge_ports):
            uri = f"tcp://127.0.0.1:{port}"
            self.spawn([self.bins["scheduler"], "--broker", uri, "--profile", self.profile,
                        "--sim-start", SIM_START, "--sim-speed", str(self.a.sim_speed),
                        "--journal", f"{d}/scheduler.journal"], f"{d}/scheduler.log", tag="station")
            self.spawn([self.bins["pile_sim"], "--broker", uri, "--profile", self.profile,
                        "--telemetry-hz", str(self.a.telemetry_hz)], f"{d}/pile-sim.log", tag="station")
        with open(f"{self.folder}/stations.txt", "w") as f:
            for s, port in zip(self.ids, self.edge_ports):
                f.write(f"{s} tcp://127.0.0.1:{port}\n")

    def edge_broker_pids(self):
        out = []
        for d in self.edge_dirs:
            try:
                out.append(int(open(f"{d}/broker.pid").read()))
            except (OSError, ValueError):
                pass
        return out

    def spawn(self, args, logfile, env=None, tag=""):
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(logfile, "ab"),
                             stdin=subprocess.DEVNULL, env=env)
        p.tag = tag
        self.procs.append(p)
        return p

    def centre_args(self):
        """stations_load's options and environment for the centre (its last node first:
        the bridges' main node is the first, so what it counts has crossed the cluster)."""
        args = ["--centre", ",".join(f"tcp://{x}" for x in reversed(self.addresses))]
        env = dict(os.environ)
        if self.user:
            args += ["--centre-user", self.user]
            env["STATION_MQTT_PASSWORD"] = self.password
        return args, env

    def wait_stations_answer(self, seconds):
        """Until every station's scheduler answers a request sent through the centre (its
        bridge up both ways); stations_load --mode up."""
        args, env = self.centre_args()
        r = subprocess.run([self.bins["load"], "--mode", "up", "--stations",
                            f"{self.folder}/stations.txt", *args, "--timeout", str(seconds)],
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise RuntimeError("the stations did not all answer through the centre: "
                               + (r.stdout + r.stderr).strip()[-500:])

    # -- APIs --------------------------------------------------------------------------
    def start_api(self, name, db, order):
        uris = ",".join(f"tcp://{self.addresses[i % len(self.addresses)]}" for i in order)
        env = dict(os.environ, STATION_ADMIN_ACCOUNT=ADMIN[0], STATION_ADMIN_PASSWORD=ADMIN[1])
        args = [self.bins["api"], "--broker", uris, "--client-id", f"api-{name}",
                "--station", ",".join(self.ids), "--db", db, "--port", "0",
                "--port-file", f"{self.folder}/api-{name}.port", "--threads", "128",
                "--password-iterations", "1000"]
        if self.user:
            args += ["--mqtt-user", self.user]
            env["STATION_MQTT_PASSWORD"] = self.password
        p = self.spawn(args, f"{self.folder}/api-{name}.log", env=env, tag=f"api-{name}")
        for _ in range(600):
            if os.path.exists(f"{self.folder}/api-{name}.port") and \
                    os.path.getsize(f"{self.folder}/api-{name}.port") > 0:
                return p, int(open(f"{self.folder}/api-{name}.port").read())
            if p.poll() is not None:
                break
            time.sleep(0.1)
        tail = open(f"{self.folder}/api-{name}.log", errors="replace").read()[-2000:]
        raise RuntimeError(f"station-api {name} did not listen:\n{tail}")

    # -- the end -----------------------------------------------------------------------
    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        deadline = time.time() + 10
        for p in reversed(self.procs):
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []
        for pid in self.edge_broker_pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        if self.centre_started:
            if self.a.centre == "rabbitmq":
                subprocess.run([f"{ROOT}/broker/centre-cluster.sh", "stop", self.centre_dir],
                               capture_output=True)
            else:
                try:
                    os.kill(int(open(f"{self.centre_dir}/broker.pid").read()), signal.SIGTERM)
                except (OSError, ValueError):
                    pass
            self.centre_started = False
        if self.pg_started:
            subprocess.run([f"{ROOT}/tests/tools/pg_test_server.sh", "stop", self.pg_dir],
                           capture_output=True)
            self.pg_started = False


# ---------------------------------------------------------------------------------------
# REST

class Api:
    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, body=None, token=None):
        h = {"Content-Type": "application/json"}
        if token:
            h["token"] = token
        for attempt in range(3):
            try:
                self.c.request(method, path, json.dumps(body) if body is not None else None, h)
                return json.loads(self.c.getresponse().read())
            except (OSError, http.client.HTTPException):
                self.c.close()
                if attempt == 2:
                    raise
                time.sleep(0.2)

    def admin_token(self, seconds=30):
        end = time.time() + seconds
        while time.time() < end:
            try:
                r = self.call("POST", "/admin/login", {"account": ADMIN[0], "password": ADMIN[1]})
                if r.get("data"):
                    return r["data"]["token"]
            except (OSError, http.client.HTTPException, ValueError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"admin login at port {self.port} failed")

    def wait_piles(self, admin, ids, piles, seconds):
        """Until every station shows all its piles online (REST) at this API."""
        end = time.time() + seconds
        pending = list(ids)
        while pending and time.time() < end:
            d = self.call("GET", f"/admin/index/manage?station={pending[0]}", token=admin).get("data")
            if d and len(d.get("charge_array", [])) == piles and \
                    all(p["state"] == "REST" for p in d["charge_array"]):
                pending.pop(0)
            else:
                time.sleep(0.1)
        return not pending

    def user_with_cars(self, account, n):
        token = self.call("POST", "/client/register",
                          {"account": account, "password": "load", "name": account.split("@")[0]})["data"]["token"]
        cars = [int(self.call("POST", "/client/index/car",
                              {"name": f"c{i}", "power_capacity": 100, "power_current": 0},
                              token)["data"]["car_id"]) for i in range(n)]
        assert cars == list(range(cars[0], cars[0] + n)), "car ids are not consecutive"
        return token, cars[0]


def wrk(url, script, env, seconds, conns):
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, env=dict(os.environ, **env)).stdout
    r = {"rps": 0.0, "p50": "?", "p99": "?", "non2xx": 0, "errors": "", "raw": out}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        r["rps"] = float(m.group(1))
    if m := re.search(r"^\s+50%\s+(\S+)", out, re.M):
        r["p50"] = m.group(1)
    if m := re.search(r"^\s+99%\s+(\S+)", out, re.M):
        r["p99"] = m.group(1)
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        r["non2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors:.*", out):
        r["errors"] = m.group(0)
    created = sum(int(x) for x in re.findall(r"created (\d+)", out))
    refused = sum(int(x) for x in re.findall(r"refused (\d+)", out))
    r["created"], r["refused"] = created, refused
    return r


# ---------------------------------------------------------------------------------------
# One K

def one(a, k, bins):
    folder = tempfile.mkdtemp(prefix=f"stations-{k}-", dir="/tmp")
    os.chmod(folder, 0o711)  # mosquitto and postgres, dropping root, reach their files
    r = Run(a, k, folder, bins)
    row = {"k": k, "loadavg_start": os.getloadavg()}
    try:
        log(f"K={k}: centre ({a.centre}) and PostgreSQL in {folder}")
        row["centre_up_s"] = r.start_centre()
        r.start_pg()
        r.write_profile()
        t0 = time.time()
        r.start_stations()
        r.wait_stations_answer(120 + 2 * k)
        row["stations_up_s"] = time.time() - t0
        log(f"K={k}: all {k} stations answer through the centre after {row['stations_up_s']:.1f} s")

        t0 = time.time()
        _, port_pg = r.start_api("pg", r.pg_uri, [0, 1, 2])
        _, port_sq = r.start_api("sqlite", f"{folder}/api.db", [1, 2, 0])
        apis = {"pg": Api(port_pg), "sqlite": Api(port_sq)}
        admins = {n: api.admin_token() for n, api in apis.items()}
        for n, api in apis.items():
            if not api.wait_piles(admins[n], r.ids, a.piles, 120 + k):
                raise RuntimeError(f"API {n}: not every station's piles online")
        row["apis_ready_s"] = time.time() - t0
        log(f"K={k}: both APIs show every station's piles online after {row['apis_ready_s']:.1f} s")

        # The same accounts and cars in both databases, in the same order (same ids): the
        # load's orders are stored in both, and each API's REST user has its own cars.
        per = a.window * 2
        ids = {}

        def accounts(n):
            api = apis[n]
            _, drv_first = api.user_with_cars("driver@bench.test", k * per)
            pg_tok, pg_first = api.user_with_cars("rest-pg@bench.test", a.rest_cars + 5 + a.alone)
            sq_tok, sq_first = api.user_with_cars("rest-sqlite@bench.test", a.rest_cars + 5 + a.alone)
            ids[n] = (drv_first, pg_first, sq_first, {"pg": pg_tok, "sqlite": sq_tok})
        t1 = time.time()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(accounts, apis))
        log(f"K={k}: accounts and {k * per + 2 * (a.rest_cars + 5 + a.alone)} cars in each database "
            f"in {time.time() - t1:.1f} s")
        if ids["pg"][:3] != ids["sqlite"][:3]:
            raise RuntimeError(f"the two databases gave different car ids: {ids}")
        drv_first, pg_first, sq_first, _ = ids["pg"]
        rest_user = {"pg": (ids["pg"][3]["pg"], pg_first), "sqlite": (ids["sqlite"][3]["sqlite"], sq_first)}
        # Five open orders of each REST user, at the first stations, made through its own API
        # (the other database gets them through the log: same car ids, another user's cars).
        for n, api in apis.items():
            tok, first = rest_user[n]
            for j in range(5):
                res = api.call("POST", f"/client/index/order?station={r.ids[j % k]}",
                               {"car_id": str(first + j), "mode": "F", "apply_kwh": 10}, tok)
                if res.get("code") != 200:
                    raise RuntimeError(f"open order at {n}: {res}")
        # One change alone: --alone create+cancel pairs one after the other, one connection,
        # each API (the time of a change through the centre without any queue in front).
        row["alone"] = {}
        for n, api in apis.items():
            tok, first = rest_user[n]
            times = []
            for j in range(a.alone):
                car = first + 5 + a.rest_cars + j
                t1 = time.time()
                res = api.call("POST", f"/client/index/order?station={r.ids[car % k]}",
                               {"car_id": str(car), "mode": "F", "apply_kwh": 10}, tok)
                t2 = time.time()
                if res.get("code") != 200:
                    raise RuntimeError(f"an order alone at {n}: {res}")
                api.call("DELETE", "/client/index/order", {"id": res["data"]["id"]}, tok)
                times += [(t2 - t1) * 1000, (time.time() - t2) * 1000]
            times.sort()
            if times:
                row["alone"][n] = (times[len(times) // 2], times[-1])
                log(f"K={k}: a change alone through the {n} API: p50 {times[len(times) // 2]:.1f} ms, "
                    f"max {times[-1]:.1f} ms ({len(times)} changes)")
        row["mem_start"] = memory(r)

        # Load: the stations at work; lag to both databases; messages at the centre.
        log(f"K={k}: load, {a.rate}/s per station for {a.seconds} s")
        centre_args, env = r.centre_args()
        load = subprocess.Popen([bins["load"], "--stations", f"{folder}/stations.txt",
                                 "--first-car", str(drv_first), "--cars-per-station", str(per),
                                 "--rate", str(a.rate), "--window", str(a.window),
                                 "--seconds", str(a.seconds), "--idle-seconds", str(a.idle_seconds),
                                 *centre_args, "--pg", r.pg_uri, "--sqlite", f"{folder}/api.db",
                                 "--poll-us", str(a.poll_us), "--timeout", "60"],
                                stdout=subprocess.PIPE, text=True, env=env)
        r.procs.append(load)
        load.tag = "load"
        # The processes' CPU over the load itself (between stations_load's two marks).
        out, before, t1 = [], None, None
        for line in load.stdout:
            if line.startswith("LOAD START"):
                before, t1 = cpu_groups(r), time.time()
            elif line.startswith("LOAD END") and before:
                span = time.time() - t1
                row["loadavg_load"] = os.getloadavg()
                row["cpu"] = {g: max(0.0, (cpu_s_sum(pids) - b) / span) for g, (pids, b) in before.items()}
            else:
                out.append(line)
                print(line, end="", flush=True)
        load.wait()
        m = re.search(r"^RESULT (.*)$", "".join(out), re.M)
        if not m or "cpu" not in row:
            raise RuntimeError(f"stations_load gave no result (exit {load.returncode})")
        row["load"] = dict(kv.split("=", 1) for kv in m.group(1).split())
        row["load_exit"] = load.returncode

        # REST on each API in turn, the same stations live.
        stations = ",".join(r.ids)
        row["rest"] = {}
        for name, path, script, who in (
                ("manage", "/admin/index/manage", "get_stations.lua", "admin"),
                ("orders", "/client/index/order?mode=CURRENT", "get_stations.lua", "user"),
                ("pairs", "", "order_pairs.lua", "user")):
            for n in ("pg", "sqlite"):
                tok, first = rest_user[n]
                env = {"TOKEN": admins[n] if who == "admin" else tok}
                if name == "manage":
                    env["STATIONS"] = stations
                if name == "pairs":
                    env.update(STATIONS=stations, FIRST_CAR=str(first + 5), CARS=str(a.rest_cars),
                               THREADS="2")
                before, t1 = cpu_groups(r), time.time()
                res = wrk(f"http://127.0.0.1:{apis[n].port}{path}", f"{ROOT}/bench/wrk/{script}",
                          env, a.wrk_seconds, a.connections)
                span = time.time() - t1
                res["cpu"] = {g: max(0.0, (cpu_s_sum(pids) - b) / span) for g, (pids, b) in before.items()}
                row["rest"][(name, n)] = res
                extra = f", created {res['created']}, refused {res['refused']}" if name == "pairs" else ""
                cpu = " ".join(f"{g} {c:.2f}" for g, c in res["cpu"].items())
                log(f"K={k}: {name} on {n}: {res['rps']:.0f} req/s, p99 {res['p99']}"
                    f"{', non-2xx ' + str(res['non2xx']) if res['non2xx'] else ''}{extra} "
                    f"{res['errors']} (cores: {cpu})")
                with open(f"{a.out}/wrk-{k}-{name}-{n}.txt", "w") as f:
                    f.write(res.pop("raw"))
        row["mem_end"] = memory(r)
        row["loadavg_end"] = os.getloadavg()
        return row
    finally:
        if a.keep:
            for src in [f"{folder}/api-pg.log", f"{folder}/api-sqlite.log"]:
                if os.path.exists(src):
                    shutil.copy(src, f"{a.out}/{k}-{os.path.basename(src)}")
        r.stop()
        if a.keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def groups(r):
    apis = {p.tag: p.pid for p in r.procs if p.tag.startswith("api-")}
    return {"centre": r.centre_pids(),
            "api-pg": [apis.get("api-pg", 0)],
            "api-sqlite": [apis.get("api-sqlite", 0)],
            "postgresql": r.pg_pids(),
            "stations": [p.pid for p in r.procs if p.tag == "station"] + r.edge_broker_pids()}


def cpu_s_sum(pids):
    return sum(cpu_s(p) for p in pids)


def cpu_groups(r):
    return {g: (pids, cpu_s_sum(pids)) for g, pids in groups(r).items()}


def memory(r):
    return {g: sum(rss_kb(p) for p in pids) / 1024 for g, pids in groups(r).items()}


# ---------------------------------------------------------------------------------------

def table(a, rows):
    out = []
    w = out.append
    w(f"Stations, the centre and the lag ({a.piles} piles a station, clock x{a.sim_speed:g}, "
      f"{a.rate:g} requests/s a station for {a.seconds:g} s, at most {a.window} open; 1-minute "
      "load average at each K's start and at the end of its load: "
      + ", ".join(f"{r['k']}: {r['loadavg_start'][0]:.1f} / {r.get('loadavg_load', [0])[0]:.1f}"
                  for r in rows) + "):\n")
    w("| stations | up s | APIs ready s | requests ok/sent | charged / cancelled | reply p99 at the "
      "station ms | centre msg/s idle | centre msg/s load (state / changes / replies) | KiB/s | "
      "batch station → centre p50 / p99 / max ms | "
      "lag → PostgreSQL p50 / p99 / max ms | lag → SQLite p50 / p99 / max ms | "
      "every change → PostgreSQL p99 / max ms (n) |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        L = row["load"]
        w(f"| {row['k']} | {row['stations_up_s']:.1f} | {row['apis_ready_s']:.1f} | "
          f"{L['ok']}/{L['sent']} | {L['finished']} / {L['cancelled']} | {L['rtt_p99_ms']} | "
          f"{L.get('centre_idle_msg_s', '?')} | {L.get('centre_load_msg_s', '?')} "
          f"({L.get('centre_load_state_s', '?')} / {L.get('centre_load_changes_s', '?')} / "
          f"{L.get('centre_load_replies_s', '?')}) | {L.get('centre_load_kib_s', '?')} | "
          f"{L.get('to_centre_p50_ms', '?')} / {L.get('to_centre_p99_ms', '?')} / "
          f"{L.get('to_centre_max_ms', '?')} | "
          f"{L['pg_reply_p50_ms']} / {L['pg_reply_p99_ms']} / {L['pg_reply_max_ms']} | "
          f"{L['sqlite_reply_p50_ms']} / {L['sqlite_reply_p99_ms']} / {L['sqlite_reply_max_ms']} | "
          f"{L['pg_batch_p99_ms']} / {L['pg_batch_max_ms']} ({L['pg_batch_n']}) |")
    w(f"\nREST per API instance (wrk -t2 -c{a.connections} -d{a.wrk_seconds}s), "
      "req/s (p99), PostgreSQL | SQLite:\n")
    w("| stations | a change alone, p50 / max ms | GET manage (next station each) | "
      "GET order?mode=CURRENT | create+cancel pairs | pairs PostgreSQL / SQLite | "
      "centre's cores during the pairs |")
    w("|---|---|---|---|---|---|---|")
    for row in rows:
        R = row["rest"]
        al = row.get("alone", {})
        cells = [" \\| ".join(f"{al[n][0]:.1f} / {al[n][1]:.1f}" if n in al else "-"
                                for n in ("pg", "sqlite"))]
        for name in ("manage", "orders", "pairs"):
            p, s = R[(name, "pg")], R[(name, "sqlite")]
            cells.append(f"{p['rps']:,.0f} ({p['p99']}) \\| {s['rps']:,.0f} ({s['p99']})")
        ratio = R[("pairs", "pg")]["rps"] / max(R[("pairs", "sqlite")]["rps"], 1e-9)
        cores = " \\| ".join(f"{R[('pairs', n)]['cpu']['centre']:.2f}" for n in ("pg", "sqlite"))
        w(f"| {row['k']} | " + " | ".join(cells) + f" | {ratio:.2f} | {cores} |")
    bad = [f"K={row['k']} {name} on {n}: {v['non2xx']} non-2xx, {v['refused']} refused, {v['errors']}"
           for row in rows for (name, n), v in row["rest"].items()
           if v["non2xx"] or v["refused"] or v["errors"]]
    if bad:
        w("\nNot all answered: " + "; ".join(bad))
    w("\nMemory (RSS MB after start-up → after the REST runs) and CPU during the load "
      "(cores):\n")
    w("| stations | centre (3 Erlang nodes) | API on PostgreSQL | API on SQLite | "
      "PostgreSQL server | stations (all) | CPU centre / API pg / API sqlite / PostgreSQL / stations |")
    w("|---|---|---|---|---|---|---|")
    for row in rows:
        s, e, c = row["mem_start"], row["mem_end"], row["cpu"]
        w(f"| {row['k']} | {s['centre']:.0f} → {e['centre']:.0f} | {s['api-pg']:.0f} → {e['api-pg']:.0f} | "
          f"{s['api-sqlite']:.0f} → {e['api-sqlite']:.0f} | {s['postgresql']:.0f} → {e['postgresql']:.0f} | "
          f"{s['stations']:.0f} → {e['stations']:.0f} | {c['centre']:.2f} / {c['api-pg']:.2f} / "
          f"{c['api-sqlite']:.2f} / {c['postgresql']:.2f} / {c['stations']:.2f} |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stations", default="1,10,100")
    ap.add_argument("--piles", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--idle-seconds", type=float, default=5)
    ap.add_argument("--rate", type=float, default=0.5)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--poll-us", type=int, default=1000)
    ap.add_argument("--wrk-seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--rest-cars", type=int, default=2000)
    ap.add_argument("--alone", type=int, default=20,
                    help="create+cancel pairs sent one at a time through each API before the load")
    ap.add_argument("--sim-speed", type=float, default=600)
    ap.add_argument("--telemetry-hz", type=float, default=1)
    ap.add_argument("--centre", choices=["rabbitmq", "mosquitto"], default="rabbitmq")
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench", "out", "stations"))
    ap.add_argument("--bridge-nodelay", action="store_true",
                    help="the stations' brokers with bench/tcp_nodelay_preload (TCP_NODELAY on "
                         "the bridge's socket, which mosquitto 2.0.11 does not set)")
    ap.add_argument("--keep", action="store_true", help="keep each run's folder and logs")
    a = ap.parse_args()

    bins = {n: os.path.join(a.build, p) for n, p in BINARIES.items()}
    missing = [p for n, p in bins.items() if (n != "nodelay" or a.bridge_nodelay)
               and not os.access(p, os.X_OK if n != "nodelay" else os.R_OK)]
    for tool in ("mosquitto", "mosquitto_sub", "wrk", "psql"):
        if not shutil.which(tool):
            missing.append(tool)
    if a.centre == "rabbitmq" and not os.access(RABBIT, os.X_OK):
        missing.append(RABBIT)
    if missing:
        sys.exit("stations_bench: missing " + ", ".join(missing) + "\n  build: cmake -S . -B "
                 "build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTATION_BUILD_BENCH=ON "
                 "-DSTATION_BUILD_TESTS=OFF && cmake --build build/bench --target "
                 "station-scheduler station-pile-sim station-api stations_load")
    os.makedirs(a.out, exist_ok=True)

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)

    rows = []
    t0 = time.time()
    try:
        for k in [int(x) for x in a.stations.split(",")]:
            try:
                rows.append(one(a, k, bins))
            except RuntimeError as e:
                log(f"K={k}: FAILED: {e}")
            # What has been measured so far, in case a later K fails.
            with open(os.path.join(a.out, "stations.md"), "w") as out:
                out.write(table(a, rows) if rows else "")
    except KeyboardInterrupt:
        log("interrupted")
    log(f"done in {time.time() - t0:.0f} s")
    if rows:
        print()
        print(table(a, rows))
        with open(os.path.join(a.out, "stations.json"), "w") as f:
            json.dump([{**r, "rest": {f"{n}/{s}": v for (n, s), v in r["rest"].items()}}
                       for r in rows], f, indent=1)
    return 0 if rows and all(r.get("load_exit") == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
