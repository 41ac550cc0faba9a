#!/usr/bin/env python3
"""Crash trial of the running station: kill -9 the scheduler, the REST API and the broker
at random (seeded) moments under a REST workload, then drain and check that orders and
money stayed exact.

    python3 tests/crash/crash_trial.py --bin-dir build/release --seed 7 \
        --scheduler-kills 20 --api-kills 20 --broker-kills 5

Everything runs on 127.0.0.1 in a temporary folder (kept, and its path printed, when a
check fails or with --keep). Python 3 standard library only. See tests/crash/README.md.

Exit status: 0 every invariant held, 1 otherwise (or the trial could not run). The last
line is always "N passed, M failed".
"""

import argparse
import collections
import contextlib
import http.client
import json
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HOST = "127.0.0.1"
SIM_START = "2026-11-25 06:00:00"
ADMIN_ACCOUNT = "admin@station.test"
ADMIN_PASSWORD = "admin-pw-1"
REQUESTS_TOPIC = "evcs/v1/scheduler/requests"
CLOSED = ("FINISHED", "CANCELLED")


class TrialError(Exception):
    """The trial itself could not go on (a service did not start, a deadline passed)."""


def now():
    return time.monotonic()


def cents(v):
    """The rounding the station shows money with (contract::cents): half up, in cents."""
    scaled = v * 100.0
    return int(math.floor(scaled + 0.5 + 1e-7 * max(1.0, abs(scaled))))


def charged_cents(order):
    """What a closed order is charged (docs/decisions.md, money): each bill's charging and
    service fee rounded to the cent, summed. Returns (charge, service) in cents."""
    return (sum(cents(b["charge_fee"]) for b in order["sessions"]),
            sum(cents(b["service_fee"]) for b in order["sessions"]))


# ---- a minimal MQTT 3.1.1 client (QoS 1), for the scheduler's own answers ----------------


class MqttError(Exception):
    pass


class Mqtt:
    def __init__(self, port, client_id, timeout=5.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.next_id = 0
        cid = client_id.encode()
        var = b"\x00\x04MQTT\x04\x02" + struct.pack("!H", 60)  # clean session, keep-alive 60 s
        self._send(0x10, var + struct.pack("!H", len(cid)) + cid)
        header, body = self._read()
        if header & 0xF0 != 0x20 or len(body) < 2 or body[1] != 0:
            raise MqttError("CONNACK refused: %r" % (body,))

    def close(self):
        try:
            self._send(0xE0, b"")
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def _send(self, header, body):
        n = len(body)
        length = bytearray()
        while True:
            b = n % 128
            n //= 128
            length.append(b | (0x80 if n else 0))
            if not n:
                break
        self.sock.sendall(bytes([header]) + bytes(length) + body)

    def _exact(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise MqttError("the broker closed the connection")
            out += chunk
        return bytes(out)

    def _read(self):
        header = self._exact(1)[0]
        mult, n = 1, 0
        while True:
            b = self._exact(1)[0]
            n += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        return header, self._exact(n) if n else b""

    def _pid(self):
        self.next_id = self.next_id % 65535 + 1
        return self.next_id

    def subscribe(self, topic):
        pid = self._pid()
        t = topic.encode()
        self._send(0x82, struct.pack("!H", pid) + struct.pack("!H", len(t)) + t + b"\x01")
        while True:
            header, body = self._read()
            if header & 0xF0 == 0x90:
                return

    def publish(self, topic, payload):
        pid = self._pid()
        t = topic.encode()
        self._send(0x32, struct.pack("!H", len(t)) + t + struct.pack("!H", pid) + payload.encode())

    def wait(self, topic, deadline):
        while now() < deadline:
            self.sock.settimeout(max(0.05, deadline - now()))
            try:
                header, body = self._read()
            except socket.timeout:
                break
            if header & 0xF0 != 0x30:
                continue  # PUBACK of our publish, PINGRESP
            # PUBLISH: the topic, then a packet id when QoS > 0 (acknowledged).
            tl = struct.unpack("!H", body[:2])[0]
            got = body[2:2 + tl].decode()
            rest = body[2 + tl:]
            if (header >> 1) & 3:
                self._send(0x40, rest[:2])
                rest = rest[2:]
            if got == topic:
                return rest.decode()
        raise MqttError("no reply on %s" % topic)


_mqtt_seq = [0]
_mqtt_lock = threading.Lock()


def scheduler_ask(port, op, timeout=10.0, extra=None):
    """One request to the scheduler over the bus; its reply (a dict) or raises."""
    with _mqtt_lock:
        _mqtt_seq[0] += 1
        n = _mqtt_seq[0]
    name = "crashcheck%d-%d" % (os.getpid(), n)
    topic = "evcs/v1/replies/" + name
    deadline = now() + timeout
    c = Mqtt(port, name, timeout=min(5.0, timeout))
    try:
        c.subscribe(topic)
        req = {"id": "chk-%d-%d" % (os.getpid(), n), "reply_to": topic, "op": op}
        if extra:
            req.update(extra)
        c.publish(REQUESTS_TOPIC, json.dumps(req))
        reply = json.loads(c.wait(topic, deadline))
    finally:
        c.close()
    if not reply.get("ok"):
        raise MqttError("the scheduler refused %s: %s" % (op, reply))
    return reply


# ---- the services ---------------------------------------------------------------------------


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


class Services:
    def __init__(self, args, workdir, log):
        self.args = args
        self.dir = workdir
        self.log = log
        self.repo = args.repo
        self.bin_sched = os.path.join(args.bin_dir, "scheduler/service/station-scheduler")
        self.bin_api = os.path.join(args.bin_dir, "api/station-api")
        self.bin_piles = os.path.join(args.bin_dir, "pile-sim/station-pile-sim")
        for b in (self.bin_sched, self.bin_api, self.bin_piles):
            if not os.access(b, os.X_OK):
                raise TrialError("no binary %s (build it, or give --bin-dir)" % b)
        self.broker_dir = os.path.join(workdir, "broker")
        self.journal = os.path.join(workdir, "scheduler.journal")
        self.db = os.path.join(workdir, "api.db")
        self.port_file = os.path.join(workdir, "api.port")
        self.broker_port = 0
        self.broker_pid = None
        self.api_port = 0
        self.sched = None
        self.api = None
        self.piles = None
        self.starts = collections.Counter()
        self.lock = threading.Lock()
        self.unexpected_exits = []

    # broker
    def start_broker(self):
        for attempt in range(5):
            out = subprocess.run([os.path.join(self.repo, "broker/start-dev.sh"), self.broker_dir,
                                  str(self.broker_port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, timeout=30, start_new_session=True)
            if out.returncode == 0:
                break
            self.log("broker start %d failed: %s" % (attempt + 1, out.stdout.decode(errors="replace").strip()))
            time.sleep(1.0)
        else:
            raise TrialError("the broker did not start: " + out.stdout.decode(errors="replace"))
        with open(os.path.join(self.broker_dir, "broker.port")) as f:
            self.broker_port = int(f.read().strip())
        with open(os.path.join(self.broker_dir, "broker.pid")) as f:
            self.broker_pid = int(f.read().strip())
        self.starts["broker"] += 1
        self.log("started broker on port %d (pid %d)" % (self.broker_port, self.broker_pid))

    def broker_up(self):
        return self.broker_pid is not None and pid_alive(self.broker_pid)

    def kill_broker(self, sig=signal.SIGKILL):
        pid = self.broker_pid
        if pid is None:
            return
        self.log("kill -%d broker (pid %d)" % (sig, pid))
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        end = now() + 10
        while pid_alive(pid) and now() < end:
            time.sleep(0.02)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        self.broker_pid = None

    def broker_uri(self):
        return "tcp://%s:%d" % (HOST, self.broker_port)

    # processes
    def _spawn(self, name, argv, env=None):
        self.starts[name] += 1
        path = os.path.join(self.dir, "%s-%d.log" % (name, self.starts[name]))
        self.log("start %s (%s)" % (name, os.path.basename(path)))
        f = open(path, "ab")
        try:
            return subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=self.dir, env=env, start_new_session=True)
        finally:
            f.close()

    def start_scheduler(self):
        self.sched = self._spawn("scheduler", [
            self.bin_sched, "--broker", self.broker_uri(), "--profile", self.args.profile,
            "--sim-start", SIM_START, "--sim-speed", "0", "--journal", self.journal,
            "--client-id", "station-scheduler"])

    def start_piles(self):
        self.piles = self._spawn("pile-sim", [self.bin_piles, "--broker", self.broker_uri(),
                                              "--profile", self.args.profile])

    def start_api(self):
        env = dict(os.environ)
        env["STATION_ADMIN_ACCOUNT"] = ADMIN_ACCOUNT
        env["STATION_ADMIN_PASSWORD"] = ADMIN_PASSWORD
        for attempt in range(3):
            port = self.api_port if attempt < 2 else 0
            try:
                os.unlink(self.port_file)
            except FileNotFoundError:
                pass
            proc = self._spawn("api", [
                self.bin_api, "--broker", self.broker_uri(), "--db", self.db, "--port", str(port),
                "--port-file", self.port_file, "--password-iterations", "1000", "--threads", "32"], env)
            end = now() + 30
            while now() < end:
                if proc.poll() is not None:
                    break
                if os.path.exists(self.port_file):
                    with open(self.port_file) as f:
                        text = f.read().strip()
                    if text:
                        with self.lock:
                            self.api_port = int(text)
                            self.api = proc
                        self.log("api listening on port %d (pid %d)" % (self.api_port, proc.pid))
                        return
                time.sleep(0.02)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            self.log("api start %d failed (exit %s); retrying" % (attempt + 1, proc.returncode))
            time.sleep(0.5 + attempt)
        raise TrialError("station-api did not start (see api-*.log)")

    def port(self):
        with self.lock:
            return self.api_port

    @staticmethod
    def _kill(proc):
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def kill_scheduler(self):
        self.log("kill -9 scheduler (pid %s)" % (self.sched and self.sched.pid))
        self._kill(self.sched)

    def kill_api(self):
        self.log("kill -9 api (pid %s)" % (self.api and self.api.pid))
        self._kill(self.api)

    def check_alive(self, when):
        for name, p in (("scheduler", self.sched), ("api", self.api), ("pile-sim", self.piles)):
            if p is not None and p.poll() is not None and p.returncode != -signal.SIGKILL:
                self.unexpected_exits.append("%s exited by itself with status %s (%s)" % (name, p.returncode, when))
                return name
        return None

    def scheduler_ready(self, timeout=30.0):
        end = now() + timeout
        while now() < end:
            if self.sched is not None and self.sched.poll() is not None:
                return False
            try:
                scheduler_ask(self.broker_port, "stats", timeout=3.0)
                return True
            except (OSError, MqttError):
                time.sleep(0.2)
        return False

    def stop_all(self):
        procs = [p for p in (self.api, self.sched, self.piles) if p is not None and p.poll() is None]
        for p in procs:
            try:
                p.send_signal(signal.SIGTERM)
            except OSError:
                pass
        end = now() + 5
        for p in procs:
            try:
                p.wait(timeout=max(0.1, end - now()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self.broker_pid is not None:
            self.kill_broker(signal.SIGTERM)


# ---- REST -------------------------------------------------------------------------------------


class Answer:
    __slots__ = ("sent", "status", "body", "error")

    def __init__(self, sent, status=None, body=None, error=None):
        self.sent, self.status, self.body, self.error = sent, status, body, error


def http_call(port, method, path, body=None, token=None, key=None, timeout=45.0):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        try:
            conn.connect()
        except OSError as e:
            return Answer(False, error="connect: %s" % e)
        headers = {}
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else body
            headers["Content-Type"] = "application/json"
        if token:
            headers["token"] = token
        if key:
            headers["Idempotency-Key"] = key
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            return Answer(True, error="%s: %s" % (type(e).__name__, e))
        try:
            parsed = json.loads(raw.decode()) if raw else None
        except ValueError:
            parsed = {"raw": raw[:200].decode(errors="replace")}
        return Answer(True, resp.status, parsed)
    finally:
        conn.close()


def success_code(method, path):
    if path.startswith("/client/index/order"):
        if method == "POST":
            return 200
        if method == "DELETE":
            return "0"
    return 0


def classify(method, path, a):
    """success | refused | unavailable | unknown | not_sent | error."""
    if not a.sent:
        return "not_sent"
    if a.status is None:
        return "unknown"  # the connection broke after the request was sent
    if a.status == 200:
        code = a.body.get("code") if isinstance(a.body, dict) else None
        return "success" if code == success_code(method, path) else "refused"
    if a.status == 503:
        return "unavailable"
    if a.status == 504:
        return "unknown"
    if a.status >= 500:
        return "unknown"  # not in the contract for a change: its effect is not known
    return "error"


class Recorder:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.items = []
        self.f = open(path, "w")

    def add(self, rec):
        with self.lock:
            rec["seq"] = len(self.items)
            self.items.append(rec)
            self.f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self.f.flush()

    def close(self):
        with self.lock:
            self.f.close()


class Client:
    """Sends requests to the current API port and records every one of them."""

    def __init__(self, services, recorder, stop):
        self.services = services
        self.recorder = recorder
        self.stop = stop

    def call(self, who, method, path, body=None, token=None, key=None, kind=None, meta=None,
             retry_unknown=False, retry_for=60.0):
        """One logical request. With retry_unknown (a request with an Idempotency-Key) a
        connection error or 504 is retried with the same key and the same body until a
        final answer or `retry_for` seconds pass. Not-sent attempts (the API is down) are
        retried while the trial runs. Returns (outcome, answer, attempts)."""
        text = json.dumps(body, separators=(",", ":")) if body is not None else None
        attempts = []
        end = now() + retry_for
        while True:
            t0 = time.time()
            a = http_call(self.services.port(), method, path, text, token, key)
            out = classify(method, path, a)
            attempts.append({"t": round(t0, 3), "dt": round(time.time() - t0, 3), "status": a.status,
                             "outcome": out, "error": a.error,
                             "code": a.body.get("code") if isinstance(a.body, dict) else None,
                             "reason": a.body.get("error") if isinstance(a.body, dict) else None})
            again = out == "not_sent" or (retry_unknown and out == "unknown")
            if not again or now() >= end or (self.stop.is_set() and out == "not_sent" and not retry_unknown):
                break
            time.sleep(0.3)
        # The outcome of the logical request: the last attempt's, except that a keyed
        # request whose last try was not sent keeps the earlier unknown.
        final = out
        if final == "not_sent" and any(x["outcome"] == "unknown" for x in attempts):
            final = "unknown"
        rec = {"who": who, "kind": kind or "%s %s" % (method, path), "method": method, "path": path,
               "body": body, "key": key, "outcome": final, "status": a.status,
               "answer": a.body if isinstance(a.body, dict) else None, "attempts": attempts}
        if meta:
            rec.update(meta)
        self.recorder.add(rec)
        return final, a, rec


class UserAgent(threading.Thread):
    def __init__(self, idx, seed, client, token, user_id, cars, stop, opts):
        super().__init__(name="user-%d" % idx, daemon=True)
        self.idx = idx
        self.rng = random.Random(seed * 7919 + idx)
        self.client = client
        self.token = token
        self.user_id = user_id
        self.cars = cars
        self.stop = stop
        self.opts = opts
        self.n = 0
        self.seed = seed
        self.crash = None

    def key(self):
        if self.rng.random() < 0.5:
            self.n += 1
            return "s%d-u%d-%d" % (self.seed, self.idx, self.n)
        return None

    def write(self, method, body, kind, meta):
        key = self.key()
        return self.client.call(self.name, method, "/client/index/order", body, self.token, key, kind,
                                meta, retry_unknown=key is not None)

    def run(self):
        try:
            self._run()
        except Exception:  # a bug of the trial, not of the system: report it
            self.crash = traceback.format_exc()

    def _run(self):
        rng = self.rng
        while not self.stop.is_set():
            time.sleep(rng.uniform(0.05, 0.35))
            if self.stop.is_set():
                break
            if rng.random() < 0.06:
                amount = "%d.%02d" % (rng.randint(1, 300), rng.randint(0, 99))
                self.client.call(self.name, "POST", "/client/index/recharge?amount=" + amount, None,
                                 self.token, kind="recharge",
                                 meta={"user": self.user_id, "amount_cents": int(amount.replace(".", ""))})
                continue
            out, a, _ = self.client.call(self.name, "GET", "/client/index/order?mode=CURRENT", None,
                                         self.token, kind="list")
            if out != "success":
                continue
            open_by_car = {}
            for o in a.body.get("data") or []:
                open_by_car[str(o.get("car_id"))] = o
            car = rng.choice(self.cars)
            o = open_by_car.get(car)
            if o is None:
                body = {"car_id": car, "mode": rng.choice("FT"), "apply_kwh": round(rng.uniform(1.0, 30.0), 2)}
                self.write("POST", body, "submit", {"user": self.user_id, "car": car})
                continue
            r = rng.random()
            oid = str(o["id"])
            if r < self.opts.change_p:
                body = {"id": oid}
                c = rng.random()
                if c < 0.4:
                    body["apply_kwh"] = round(rng.uniform(1.0, 30.0), 2)
                elif c < 0.7:
                    body["mode"] = rng.choice("FT")
                else:
                    body["apply_kwh"] = round(rng.uniform(1.0, 30.0), 2)
                    body["mode"] = rng.choice("FT")
                self.write("PATCH", body, "change", {"user": self.user_id, "car": car, "order": oid})
            elif r < self.opts.change_p + self.opts.cancel_p:
                self.write("DELETE", {"id": oid}, "cancel", {"user": self.user_id, "car": car, "order": oid})


class AdminAgent(threading.Thread):
    def __init__(self, seed, client, token, stop, opts, piles):
        super().__init__(name="admin", daemon=True)
        self.rng = random.Random(seed * 104729 + 1)
        self.client = client
        self.token = token
        self.stop = stop
        self.opts = opts
        self.piles = piles
        self.crash = None

    def run(self):
        try:
            while not self.stop.is_set():
                time.sleep(self.rng.uniform(0.3, 1.2))
                if self.stop.is_set():
                    break
                if self.opts.pile_faults and self.piles and self.rng.random() < 0.04:
                    self.client.call("admin", "POST", "/admin/sim/fault",
                                     {"charge_id": self.rng.choice(self.piles), "minutes": self.rng.randint(5, 90)},
                                     self.token, kind="fault")
                    continue
                self.client.call("admin", "POST", "/admin/sim/clock",
                                 {"advance_seconds": self.rng.randint(60, 900)}, self.token, kind="clock")
        except Exception:
            self.crash = traceback.format_exc()


# ---- the trial ----------------------------------------------------------------------------


class Trial:
    def __init__(self, args):
        self.args = args
        self.t0 = now()
        self.deadline = self.t0 + args.time_limit
        root = args.tmp_root or None
        self.dir = tempfile.mkdtemp(prefix="crash-trial-s%d-" % args.seed, dir=root)
        # mosquitto drops to its own user when started as root: it must reach its folder.
        os.chmod(self.dir, 0o755)
        self.logf = open(os.path.join(self.dir, "trial.log"), "w")
        self.services = Services(args, self.dir, self.log)
        self.stop = threading.Event()
        self.recorder = Recorder(os.path.join(self.dir, "requests.jsonl"))
        self.client = Client(self.services, self.recorder, self.stop)
        self.chaos = []
        self.kills = collections.Counter()
        self.users = []  # {user_id, token, account, cars}
        self.admin_token = None
        self.notes = []

    def log(self, msg):
        line = "[%7.1fs wall %.3f] %s" % (now() - self.t0, time.time(), msg)
        self.logf.write(line + "\n")
        self.logf.flush()
        if self.args.verbose:
            print(line, flush=True)

    def remaining(self):
        return self.deadline - now()

    def must(self, out, a, what):
        if out != "success":
            raise TrialError("%s failed: %s %s %s" % (what, out, a.status, a.body or a.error))
        return a.body.get("data")

    # setup
    def setup(self):
        s = self.services
        s.start_broker()
        self.log("broker on port %d (pid %d)" % (s.broker_port, s.broker_pid))
        s.start_scheduler()
        s.start_piles()
        if not s.scheduler_ready(30):
            raise TrialError("the scheduler did not answer (see scheduler-1.log)")
        s.start_api()
        self.log("api on port %d" % s.port())
        out, a, _ = self.client.call("setup", "POST", "/admin/login",
                                     {"account": ADMIN_ACCOUNT, "password": ADMIN_PASSWORD}, kind="setup")
        self.admin_token = self.must(out, a, "admin login")["token"]
        # The piles come online (retained status); wait until the station shows them.
        end = now() + 30
        while now() < end:
            out, a, _ = self.client.call("setup", "GET", "/admin/index/manage", None, self.admin_token, kind="setup")
            if out == "success":
                piles = a.body["data"]["charge_array"]
                self.pile_ids = [p["id"] for p in piles]
                if all(p["state"] != "FAULT" for p in piles):
                    break
            time.sleep(0.3)
        else:
            raise TrialError("the piles did not come online")
        for i in range(self.args.users):
            account = "user%d.s%d@crash.test" % (i, self.args.seed)
            out, a, _ = self.client.call("setup", "POST", "/client/register",
                                         {"account": account, "password": "pw-%d" % i, "name": "用户%d" % i},
                                         kind="setup")
            token = self.must(out, a, "register")["token"]
            out, a, _ = self.client.call("setup", "GET", "/client/index/information", None, token, kind="setup")
            user_id = str(self.must(out, a, "information")["id"])
            cars = []
            for j in range(self.args.cars):
                out, a, _ = self.client.call("setup", "POST", "/client/index/car",
                                             {"name": "车%d-%d" % (i, j), "power_capacity": 1000, "power_current": 0},
                                             token, kind="setup")
                cars.append(str(self.must(out, a, "add car")["car_id"]))
            amount = "%d.%02d" % (100 + i, i)
            self.client.call("setup-u%d" % i, "POST", "/client/index/recharge?amount=" + amount, None, token,
                             kind="recharge", meta={"user": user_id, "amount_cents": int(amount.replace(".", ""))})
            self.users.append({"user_id": user_id, "token": token, "account": account, "cars": cars})
        self.log("%d users, %d cars" % (len(self.users), sum(len(u["cars"]) for u in self.users)))

    # chaos
    def plan(self):
        """The chaos events, shuffled by the seed. Each kills exactly the services its name
        says, so that the kills add up to the counts asked for: half the broker kills happen
        while the API is down too, and about 40 % of the other API kills while the scheduler
        is down (writes then wait for it in the API, and the API dies with them in flight)."""
        rng = random.Random(self.args.seed)
        s, a, b = self.args.scheduler_kills, self.args.api_kills, self.args.broker_kills
        b_api = min(b // 2, a)
        pair = min(s, int(round(0.4 * (a - b_api))))
        events = (["broker+api"] * b_api + ["broker"] * (b - b_api) + ["scheduler+api"] * pair +
                  ["scheduler"] * (s - pair) + ["api"] * (a - b_api - pair))
        rng.shuffle(events)
        return rng, events

    def down_time(self, rng, long_ok=True):
        """Mostly short; sometimes longer than the API's wait for an answer (5 s + 2 x 1 s),
        so that changes get 504 outcome_unknown."""
        if long_ok and rng.random() < self.args.long_down_p:
            return rng.uniform(6.0, 10.0)
        return rng.uniform(0.0, self.args.max_down)

    def chaos_event(self, rng, ev):
        s = self.services
        rec = {"event": ev, "t": round(time.time(), 3)}
        if ev == "scheduler":
            s.kill_scheduler()
            self.kills["scheduler"] += 1
            down = self.down_time(rng)
            time.sleep(down)
            s.start_scheduler()
            rec["ready"] = s.scheduler_ready(30) if s.broker_up() else None
        elif ev == "scheduler+api":
            s.kill_scheduler()
            self.kills["scheduler"] += 1
            time.sleep(rng.uniform(0.3, 3.0))  # writes wait for the scheduler in the API ...
            s.kill_api()                        # ... and the API dies with them
            self.kills["api"] += 1
            down = self.down_time(rng, long_ok=False)
            time.sleep(down)
            if rng.random() < 0.5:
                s.start_scheduler()
                time.sleep(rng.uniform(0.0, 1.0))
                s.start_api()
            else:
                s.start_api()
                time.sleep(rng.uniform(0.0, 1.0))
                s.start_scheduler()
            rec["ready"] = s.scheduler_ready(30) if s.broker_up() else None
        elif ev == "api":
            s.kill_api()
            self.kills["api"] += 1
            down = self.down_time(rng, long_ok=False)
            time.sleep(down)
            s.start_api()
        elif ev == "broker":
            s.kill_broker()
            self.kills["broker"] += 1
            down = self.down_time(rng)
            time.sleep(down)
            s.start_broker()
        else:  # the broker killed and restarted while the API is down
            s.kill_api()
            self.kills["api"] += 1
            time.sleep(rng.uniform(0.0, 0.5))
            s.kill_broker()
            self.kills["broker"] += 1
            down = self.down_time(rng)
            time.sleep(down)
            if rng.random() < 0.5:
                s.start_broker()
                time.sleep(rng.uniform(0.0, 1.0))
                s.start_api()
            else:
                s.start_api()  # it starts without a broker and connects when it is back
                time.sleep(rng.uniform(0.0, 1.0))
                s.start_broker()
        rec["down_s"] = round(down, 2)
        self.chaos.append(rec)
        self.log("chaos: %s (down %.2f s)" % (ev, down))

    def run_workload_and_chaos(self):
        agents = [UserAgent(i, self.args.seed, self.client, u["token"], u["user_id"], u["cars"], self.stop, self.args)
                  for i, u in enumerate(self.users)]
        admin = AdminAgent(self.args.seed, self.client, self.admin_token, self.stop, self.args, self.pile_ids)
        for a in agents + [admin]:
            a.start()
        rng, events = self.plan()
        budget_end = self.deadline - self.args.drain_budget
        try:
            time.sleep(min(self.args.warmup, max(0, budget_end - now())))
            for i, ev in enumerate(events):
                if now() >= budget_end:
                    self.notes.append("time budget: only %d of %d chaos events were run" % (i, len(events)))
                    break
                time.sleep(rng.uniform(self.args.min_gap, self.args.max_gap))
                dead = self.services.check_alive("before chaos event %d" % i)
                if dead:
                    self.log("%s died by itself; restarting it" % dead)
                    {"scheduler": self.services.start_scheduler, "api": self.services.start_api,
                     "pile-sim": self.services.start_piles}[dead]()
                self.chaos_event(rng, ev)
            time.sleep(min(self.args.tail, max(0, budget_end - now())))
        finally:
            self.stop.set()
            for a in agents + [admin]:
                a.join(timeout=max(5.0, min(120.0, self.remaining())))
                if a.is_alive():
                    self.notes.append("%s did not stop in time" % a.name)
                if a.crash:
                    raise TrialError("the workload thread %s failed:\n%s" % (a.name, a.crash))

    # drain
    def sched_orders(self):
        return scheduler_ask(self.services.broker_port, "bills", timeout=15)["data"]["orders"]

    def drain(self):
        s = self.services
        dead = s.check_alive("at the drain")
        if dead:
            {"scheduler": s.start_scheduler, "api": s.start_api, "pile-sim": s.start_piles}[dead]()
        if not s.broker_up():
            s.start_broker()
        if not s.scheduler_ready(60):
            raise TrialError("the scheduler does not answer at the drain")
        # The API answers again.
        end = now() + 60
        while now() < end:
            out, a, _ = self.client.call("drain", "GET", "/admin/sim/clock", None, self.admin_token, kind="drain")
            if out == "success":
                break
            time.sleep(0.5)
        else:
            raise TrialError("the API does not answer at the drain")
        by_car = {c: u for u in self.users for c in u["cars"]}
        last = None
        stalled = 0
        steps = 0
        while True:
            if self.remaining() < 20:
                raise TrialError("time limit reached while draining")
            orders = self.sched_orders()
            open_orders = [o for o in orders if o["state"] not in CLOSED]
            if not open_orders:
                break
            sig = sorted((o["order"], o["state"], round(o["kwh"], 6)) for o in open_orders)
            stalled = stalled + 1 if sig == last else 0
            last = sig
            if stalled >= 3 or steps >= self.args.drain_steps:
                # Nothing moved over three station hours (or too many steps): cancel what is open.
                for o in open_orders:
                    u = by_car.get(o["car"])
                    if u is None:
                        self.notes.append("open order %s of an unknown car %s" % (o["order"], o["car"]))
                        continue
                    api_id = self.api_id_of(o["order"])
                    if api_id is None:
                        continue  # the API has not got it yet: the next round
                    self.log("drain: cancelling stuck order %s (%s, %.3f kWh)" % (o["order"], o["state"], o["kwh"]))
                    self.client.call("drain", "DELETE", "/client/index/order", {"id": api_id}, u["token"],
                                     "drain-%d-%s" % (self.args.seed, o["order"]), "cancel",
                                     {"user": u["user_id"], "car": o["car"], "order": api_id, "drain": True},
                                     retry_unknown=True)
                stalled = 0
            out, a, _ = self.client.call("drain", "POST", "/admin/sim/clock", {"advance_seconds": 3600},
                                         self.admin_token, kind="clock")
            steps += 1
            if steps > self.args.drain_steps + 20:
                raise TrialError("orders still open after %d drain steps" % steps)
        self.log("drain: nothing open after %d clock steps" % steps)
        # The API's copy of the log reaches the scheduler's position.
        end = now() + min(90, max(10, self.remaining() - 10))
        while True:
            st = scheduler_ask(s.broker_port, "stats", timeout=10)["data"]["log_position"]
            run, pos = self.api_position()
            if run == self.run_id() and pos == st:
                self.positions = (run, pos, st)
                break
            if now() > end:
                self.positions = (run, pos, st)
                self.notes.append("the API's log position %s/%s did not reach the scheduler's %s" % (run, pos, st))
                break
            time.sleep(0.3)
        self.log("log positions: api %s/%s, scheduler %s" % self.positions)

    @contextlib.contextmanager
    def db(self):
        c = sqlite3.connect("file:%s?mode=ro" % self.services.db, uri=True, timeout=30)
        c.row_factory = sqlite3.Row
        try:
            yield c
        finally:
            c.close()

    def api_position(self):
        with self.db() as c:
            row = c.execute("SELECT run, pos FROM log_position WHERE station = ''").fetchone()
        return (row["run"], row["pos"]) if row else ("", 0)

    def api_id_of(self, sched_order):
        with self.db() as c:
            row = c.execute("SELECT id FROM orders WHERE station_key = ?",
                            ("%s/%s" % (self.run_id(), sched_order),)).fetchone()
        return str(row["id"]) if row else None

    def run_id(self):
        if not hasattr(self, "_run"):
            with open(self.services.journal) as f:
                self._run = json.loads(f.readline())["run"]
        return self._run


# ---- the checks ---------------------------------------------------------------------------


class Checks:
    def __init__(self):
        self.passed = collections.Counter()
        self.failed = collections.defaultdict(list)
        self.order = []

    def check(self, name, ok, detail=""):
        if name not in self.order:
            self.order.append(name)
        if ok:
            self.passed[name] += 1
        else:
            self.failed[name].append(detail)
        return ok


def subset_sums(values, limit=200000):
    sums = {0}
    for v in values:
        sums |= {x + v for x in sums}
        if len(sums) > limit:
            return None
    return sums


def run_checks(trial):
    ck = Checks()
    run = trial.run_id()
    sched = trial.sched_orders()
    sched_by_id = {o["order"]: o for o in sched}
    with trial.db() as c:
        api_orders = [dict(r) for r in c.execute("SELECT * FROM orders")]
        api_bills = [dict(r) for r in c.execute("SELECT * FROM bills")]
        totals = {r["pile"]: dict(r) for r in c.execute("SELECT * FROM pile_totals")}
        settlements = [dict(r) for r in c.execute("SELECT * FROM settlements")]
        users = {str(r["id"]): dict(r) for r in c.execute("SELECT id, balance_cents FROM users")}
    # The API keeps fees in whole cents (schema 8): the checks compare yuan, as shown.
    for row in api_orders + api_bills + list(totals.values()):
        for part in ("charge_fee", "service_fee"):
            cents_value = row.pop(part + "_cents")
            assert isinstance(cents_value, int), (part, cents_value)
            row[part] = cents_value / 100
    api_by_id = {str(o["id"]): o for o in api_orders}
    api_by_key = collections.defaultdict(list)
    for o in api_orders:
        api_by_key[o["station_key"]].append(o)
    bills_by_order = collections.defaultdict(list)
    for b in api_bills:
        bills_by_order[b["order_key"]].append(b)
    reqs = trial.recorder.items

    def sched_of_api(o):
        run_part, _, num = o["station_key"].rpartition("/")
        return sched_by_id.get(int(num)) if run_part == run else None

    # 0. the chaos made every kill asked for, and the drain reached the scheduler's position
    asked = {"scheduler": trial.args.scheduler_kills, "api": trial.args.api_kills, "broker": trial.args.broker_kills}
    ck.check("every kill -9 asked for was made", all(trial.kills[k] == v for k, v in asked.items()),
             "asked %s, made %s" % (asked, dict(trial.kills)))
    run_api, pos_api, pos_sched = trial.positions
    ck.check("the API's log position equals the scheduler's", run_api == run and pos_api == pos_sched,
             "api %s/%s, scheduler %s/%s" % (run_api, pos_api, run, pos_sched))

    # 1. a submit answered success took effect exactly once
    submits = [r for r in reqs if r["kind"] == "submit"]
    for r in submits:
        if r["outcome"] != "success":
            continue
        data = (r.get("answer") or {}).get("data") or {}
        oid = str(data.get("id"))
        rows = [o for o in api_orders if str(o["id"]) == oid]
        so = sched_of_api(rows[0]) if len(rows) == 1 else None
        ok = len(rows) == 1 and str(rows[0]["car_id"]) == r["car"] and so is not None and so["car"] == r["car"]
        ck.check("a submit answered 200 made exactly one order, at the scheduler too", ok,
                 "request #%d (car %s, key %s): API order %s: %d rows%s" % (
                     r["seq"], r["car"], r["key"], oid, len(rows),
                     "" if not rows else ", station_key %s, scheduler order %s" % (
                         rows[0]["station_key"], so and so["car"])))
    # 2. per car: orders at the scheduler = successful submits + a subset of the unknown ones
    sched_per_car = collections.Counter(o["car"] for o in sched)
    all_cars = sorted({c for u in trial.users for c in u["cars"]}, key=int)
    for car in all_cars:
        mine = [r for r in submits if r["car"] == car]
        ok_n = sum(1 for r in mine if r["outcome"] == "success")
        unk = [r for r in mine if r["outcome"] == "unknown"]
        n = sched_per_car.get(car, 0)
        detail = "car %s: %d orders at the scheduler, %d submits answered success, %d unknown" % (
            car, n, ok_n, len(unk))
        if not ok_n <= n <= ok_n + len(unk):
            # Name the orders no successful submit accounts for, and the refusals around them.
            succ_ids = {str(((r.get("answer") or {}).get("data") or {}).get("id")) for r in mine
                        if r["outcome"] == "success"}
            extra = [o for o in sched if o["car"] == car and
                     not any(str(a["id"]) in succ_ids for a in api_by_key.get("%s/%s" % (run, o["order"]), []))]
            detail += "; orders no successful submit accounts for: %s; refused/503 submits of the car: %s" % (
                ", ".join("%s (%s, api %s)" % (o["order"], o["state"],
                          [a["id"] for a in api_by_key.get("%s/%s" % (run, o["order"]), [])]) for o in extra),
                "; ".join("#%d key=%s %s %s" % (r["seq"], r["key"], r["outcome"],
                          [(x["status"], x["reason"] or x["error"]) for x in r["attempts"]])
                          for r in mine if r["outcome"] in ("refused", "unavailable")))
        ck.check("each car's orders = its successful submits + a subset of its unknown ones (refusals took no effect)",
                 ok_n <= n <= ok_n + len(unk), detail)

    # 3. cancels and changes
    final_state = {str(o["id"]): o["state"] for o in api_orders}
    cancels = collections.defaultdict(list)
    changes = collections.defaultdict(list)
    for r in reqs:
        if r["kind"] == "cancel":
            cancels[str(r["order"])].append(r)
        elif r["kind"] == "change":
            changes[str(r["order"])].append(r)
    for oid, rs in cancels.items():
        for r in rs:
            if r["outcome"] == "success":
                ck.check("a cancel answered success left the order CANCELLED", final_state.get(oid) == "CANCELLED",
                         "request #%d: order %s ends %s" % (r["seq"], oid, final_state.get(oid)))
    for o in api_orders:
        if o["state"] != "CANCELLED":
            continue
        rs = cancels.get(str(o["id"]), [])
        ok = any(r["outcome"] in ("success", "unknown") for r in rs)
        ck.check("a CANCELLED order had a cancel answered success or unknown (a refused cancel took no effect)", ok,
                 "order %s (%s): cancels %s" % (o["id"], o["station_key"], "; ".join(
                     "#%d key=%s %s %s" % (r["seq"], r["key"], r["outcome"],
                                           [(x["status"], x["reason"] or x["error"]) for x in r["attempts"]])
                     for r in rs) or "none"))
    for r in submits:
        if r["outcome"] != "success":
            continue
        oid = str(((r.get("answer") or {}).get("data") or {}).get("id"))
        o = api_by_id.get(oid)
        rs = changes.get(oid, [])
        if o is None or any(x["outcome"] == "unknown" for x in rs):
            continue
        mode, kwh = r["body"]["mode"], r["body"]["apply_kwh"]
        for x in rs:
            if x["outcome"] == "success":
                mode = x["body"].get("mode") or mode
                kwh = x["body"].get("apply_kwh") or kwh
        ok = o["mode"] == mode and abs(o["apply_kwh"] - kwh) < 1e-9
        ck.check("an order's mode and amount are those of its successful changes only", ok,
                 "order %s: %s %.2f kWh, expected %s %.2f from %d changes (%s)" % (
                     oid, o["mode"], o["apply_kwh"], mode, kwh, len(rs),
                     ", ".join("#%d %s" % (x["seq"], x["outcome"]) for x in rs)))

    # 4. every order ends FINISHED or CANCELLED, once
    settled = collections.Counter(s["station_key"] for s in settlements)
    for o in sched:
        ck.check("every order at the scheduler ends FINISHED or CANCELLED", o["state"] in CLOSED,
                 "scheduler order %s (car %s) is %s" % (o["order"], o["car"], o["state"]))
    for o in api_orders:
        ok = o["state"] in CLOSED and o["open"] == 0 and o["settled"] == 1 and settled[o["station_key"]] == 1 \
            and len(api_by_key[o["station_key"]]) == 1 and o["finish_time"] != ""
        ck.check("every API order is closed once (one row, settled once)", ok,
                 "order %s (%s): state %s open %s settled %s, %d settlements, %d rows" % (
                     o["id"], o["station_key"], o["state"], o["open"], o["settled"], settled[o["station_key"]],
                     len(api_by_key[o["station_key"]])))
    for key in settled:
        ck.check("every settlement is of an order", key in api_by_key, "settlement %s has no order" % key)

    # 5. each closed order's bills sum to its amount and its fees
    for o in api_orders:
        bs = bills_by_order.get(o["station_key"], [])
        kwh = sum(b["kwh"] for b in bs)
        if o["state"] == "FINISHED":
            ck.check("a FINISHED order's bills sum to its amount (0.01 kWh)", abs(kwh - o["apply_kwh"]) <= 0.01,
                     "order %s: bills %.4f kWh, applied %.4f kWh (%d bills)" % (o["id"], kwh, o["apply_kwh"], len(bs)))
        ck.check("an order's kWh is the sum of its bills' (0.01 kWh)", abs(kwh - o["charge_kwh"]) <= 0.01,
                 "order %s (%s): %.4f kWh, bills %.4f" % (o["id"], o["state"], o["charge_kwh"], kwh))
        cf = sum(b["charge_fee"] for b in bs)
        sf = sum(b["service_fee"] for b in bs)
        ok = cents(o["charge_fee"]) == cents(cf) and cents(o["service_fee"]) == cents(sf) and \
            cents(o["charge_fee"] + o["service_fee"]) == cents(cf + sf)
        ck.check("an order's fees equal the sums of its bills' fees (to the cent)", ok,
                 "order %s (%s): fees %.4f + %.4f = %.2f, its bills %.4f + %.4f = %.2f" % (
                     o["id"], o["station_key"], o["charge_fee"], o["service_fee"],
                     cents(o["charge_fee"] + o["service_fee"]) / 100, cf, sf, cents(cf + sf) / 100))

    # 6. no bill twice
    keys = collections.Counter(b["station_key"] for b in api_bills)
    for k, n in keys.items():
        ck.check("no bill is stored twice", n == 1, "bill %s stored %d times" % (k, n))
    for o in sched:
        key = "%s/%s" % (run, o["order"])
        n_api = len(bills_by_order.get(key, []))
        ck.check("an order has as many bills at the API as at the scheduler", n_api == len(o["sessions"]),
                 "order %s: %d bills at the API, %d at the scheduler" % (key, n_api, len(o["sessions"])))
    per_pile = collections.defaultdict(list)
    for o in sched:
        ss = sorted(o["sessions"], key=lambda b: b["start"]["at_ms"])
        for a, b in zip(ss, ss[1:]):
            ck.check("an order's sessions do not overlap in time", a["stop"]["at_ms"] <= b["start"]["at_ms"],
                     "order %s: bill %s %s-%s and bill %s %s-%s" % (o["order"], a["bill"], a["start"]["time"],
                                                                     a["stop"]["time"], b["bill"], b["start"]["time"],
                                                                     b["stop"]["time"]))
        for b in o["sessions"]:
            per_pile[b["pile"]].append(b)
    for pile, bs in per_pile.items():
        bs.sort(key=lambda b: b["start"]["at_ms"])
        for a, b in zip(bs, bs[1:]):
            ck.check("a pile charges one car at a time (its bills do not overlap)",
                     a["stop"]["at_ms"] <= b["start"]["at_ms"],
                     "pile %s: bill %s (order %s) %s-%s and bill %s (order %s) %s-%s" % (
                         pile, a["bill"], a["order"], a["start"]["time"], a["stop"]["time"], b["bill"], b["order"],
                         b["start"]["time"], b["stop"]["time"]))

    # 7. balances
    recharges = [r for r in reqs if r["kind"] == "recharge"]
    for u in trial.users:
        uid = u["user_id"]
        got = users.get(uid, {}).get("balance_cents")
        mine = [r for r in recharges if r["user"] == uid]
        known = sum(r["amount_cents"] for r in mine if r["outcome"] == "success")
        unk = [r["amount_cents"] for r in mine if r["outcome"] == "unknown"]
        fees = sum(sum(charged_cents(o)) for o in sched if o["state"] in CLOSED and o["car"] in u["cars"])
        # What the API's own order rows show as their fees (for the diagnosis only).
        shown = sum(cents(o["charge_fee"] + o["service_fee"]) for o in api_orders
                    if str(o["user_id"]) == uid and o["state"] in CLOSED)
        sums = subset_sums(unk)
        ok = got is not None and sums is not None and (got - known + fees) in sums
        ck.check("each balance = recharges - fees of the closed orders (cents)", ok,
                 "user %s: balance %s cents; recharged %d (+ a subset of %d unknown: %s); fees %d (the scheduler's "
                 "totals, each rounded to the cent); expected %s; the API's order rows show fees of %d in all" % (
                     uid, got, known, len(unk), unk[:10], fees,
                     known - fees if not unk else "%d + subset" % (known - fees), shown))

    # 8. pile totals
    sums_api = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
    for b in api_bills:
        t = sums_api[b["pile"]]
        t[0] += 1
        t[1] += b["kwh"]
        t[2] += b["charge_fee"]
        t[3] += b["service_fee"]
        t[4] += b["hours"]
    sums_sched = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    for o in sched:
        for b in o["sessions"]:
            t = sums_sched[b["pile"]]
            t[0] += 1
            t[1] += b["kwh"]
            t[2] += cents(b["charge_fee"]) / 100.0  # each bill's parts as charged
            t[3] += cents(b["service_fee"]) / 100.0
    for pile in sorted(set(totals) | set(sums_api) | set(sums_sched)):
        t = totals.get(pile)
        a = sums_api.get(pile, [0, 0.0, 0.0, 0.0, 0.0])
        s = sums_sched.get(pile, [0, 0.0, 0.0, 0.0])
        ok = t is not None and t["charges"] == a[0] and abs(t["kwh"] - a[1]) < 1e-6 and \
            abs(t["charge_fee"] - a[2]) < 1e-6 and abs(t["service_fee"] - a[3]) < 1e-6 and abs(t["hours"] - a[4]) < 1e-6
        ck.check("a pile's totals equal the sum of its bills", ok or (t is None and a[0] == 0),
                 "pile %s: totals %s, bills %d / %.6f kWh / %.6f / %.6f / %.6f h" % (
                     pile, t and {k: t[k] for k in ("charges", "kwh", "charge_fee", "service_fee", "hours")},
                     *a))
        ok = a[0] == s[0] and abs(a[1] - s[1]) < 1e-6 and cents(a[2]) == cents(s[2]) and cents(a[3]) == cents(s[3])
        ck.check("a pile's bills at the API equal the scheduler's", ok,
                 "pile %s: API %d / %.6f kWh / %.4f / %.4f, scheduler %d / %.6f / %.4f / %.4f" % (pile, *a[:4], *s))

    # 9. the API's orders and bills are the scheduler's
    api_bill_by_key = {b["station_key"]: b for b in api_bills}
    for o in sched:
        key = "%s/%s" % (run, o["order"])
        rows = api_by_key.get(key, [])
        if len(rows) != 1:
            ck.check("the API has each scheduler order, equal (state, car, fees to the cent, kWh to 0.01)", False, "order %s: %d API rows" % (key, len(rows)))
            continue
        a = rows[0]
        want_charge, want_service = charged_cents(o)
        ok = a["state"] == o["state"] and str(a["car_id"]) == o["car"] and \
            cents(a["charge_fee"]) == want_charge and cents(a["service_fee"]) == want_service \
            and cents(a["charge_kwh"]) == cents(o["kwh"])  # kWh shown as the station rounds them
        ck.check("the API has each scheduler order, equal (state, car, fees to the cent, kWh to 0.01)", ok,
                 "order %s: API %s car %s %.6f kWh %.4f+%.4f, scheduler %s car %s %.6f kWh %.4f+%.4f" % (
                     key, a["state"], a["car_id"], a["charge_kwh"], a["charge_fee"], a["service_fee"],
                     o["state"], o["car"], o["kwh"], o["charge_fee"], o["service_fee"]))
        for b in o["sessions"]:
            bk = "%s/%s" % (run, b["bill"])
            ab = api_bill_by_key.get(bk)
            ok = ab is not None and ab["order_key"] == key and ab["pile"] == b["pile"] and \
                abs(ab["kwh"] - b["kwh"]) < 1e-6 and cents(ab["charge_fee"]) == cents(b["charge_fee"]) and \
                cents(ab["service_fee"]) == cents(b["service_fee"])
            ck.check("the API has each scheduler bill, equal", ok,
                     "bill %s of order %s: API %s, scheduler %s %.6f kWh %.4f+%.4f" % (
                         bk, key, ab and {k: ab[k] for k in ("order_key", "pile", "kwh", "charge_fee", "service_fee")},
                         b["pile"], b["kwh"], b["charge_fee"], b["service_fee"]))
    sched_keys = {"%s/%s" % (run, o["order"]) for o in sched}
    sched_bill_keys = {"%s/%s" % (run, b["bill"]) for o in sched for b in o["sessions"]}
    for o in api_orders:
        ck.check("every API order is one of the scheduler's", o["station_key"] in sched_keys,
                 "API order %s (%s) is not at the scheduler" % (o["id"], o["station_key"]))
    for b in api_bills:
        ck.check("every API bill is one of the scheduler's", b["station_key"] in sched_bill_keys,
                 "API bill %s is not at the scheduler" % b["station_key"])
    return ck, sched, api_orders, api_bills


def summarize_requests(reqs):
    by = collections.Counter()
    for r in reqs:
        by[(r["kind"], r["outcome"])] += 1
    kinds = sorted({k for k, _ in by})
    lines = []
    for k in kinds:
        lines.append("  %-9s %s" % (k, ", ".join("%s %d" % (o, by[(k, o)]) for o in
                                               ("success", "refused", "unavailable", "unknown", "not_sent", "error")
                                               if by[(k, o)])))
    keyed_retried = sum(1 for r in reqs if r.get("key") and len(r["attempts"]) > 1)
    lines.append("  keyed requests retried: %d" % keyed_retried)
    return lines


def parse_args(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description="Crash trial: kill -9 the scheduler, the API and the broker "
                                            "under a REST workload, then check orders and money.")
    p.add_argument("--bin-dir", default=os.path.join(here, "../../build/crash"),
                   help="the build folder holding scheduler/service/station-scheduler, api/station-api, "
                        "pile-sim/station-pile-sim")
    p.add_argument("--repo", default=os.path.normpath(os.path.join(here, "../..")), help="the repository (for broker/)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scheduler-kills", type=int, default=20)
    p.add_argument("--api-kills", type=int, default=20)
    p.add_argument("--broker-kills", type=int, default=5)
    p.add_argument("--users", type=int, default=6)
    p.add_argument("--cars", type=int, default=2, help="cars per user")
    p.add_argument("--profile", default="bupt-2023")
    p.add_argument("--min-gap", type=float, default=1.0, help="seconds between chaos events, at least")
    p.add_argument("--max-gap", type=float, default=4.0, help="seconds between chaos events, at most")
    p.add_argument("--max-down", type=float, default=2.0, help="seconds a killed service stays down, at most")
    p.add_argument("--long-down-p", type=float, default=0.3,
                   help="chance that a killed scheduler or broker stays down 6-10 s (longer than the API waits)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of workload before the first kill")
    p.add_argument("--tail", type=float, default=3.0, help="seconds of workload after the last kill")
    p.add_argument("--change-p", type=float, default=0.3, help="chance to change an open order")
    p.add_argument("--cancel-p", type=float, default=0.12, help="chance to cancel an open order")
    p.add_argument("--no-pile-faults", dest="pile_faults", action="store_false",
                   help="the admin does not inject timed pile faults")
    p.add_argument("--drain-steps", type=int, default=48, help="clock hours to advance at most while draining")
    p.add_argument("--drain-budget", type=float, default=90.0,
                   help="seconds of --time-limit kept for the drain and the checks")
    p.add_argument("--time-limit", type=float, default=1800.0, help="seconds the whole trial may take")
    p.add_argument("--tmp-root", default=None, help="where the trial's folder is made (default: the system's)")
    p.add_argument("--keep", action="store_true", help="keep the trial's folder even when every check holds")
    p.add_argument("--verbose", "-v", action="store_true")
    a = p.parse_args(argv)
    a.bin_dir = os.path.abspath(a.bin_dir)
    a.repo = os.path.abspath(a.repo)
    if min(a.scheduler_kills, a.api_kills, a.broker_kills) < 0 or a.users < 1 or a.cars < 1:
        p.error("counts must not be negative; at least one user and car")
    return a


def main(argv):
    args = parse_args(argv)
    # SIGTERM (ctest's timeout, kill) ends the trial like Ctrl-C: the processes are cleaned up.
    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    trial = None
    ok = False
    try:
        trial = Trial(args)
        print("crash trial: seed %d, kills: scheduler %d, api %d, broker %d; %d users x %d cars; folder %s" % (
            args.seed, args.scheduler_kills, args.api_kills, args.broker_kills, args.users, args.cars, trial.dir),
            flush=True)
        # A watchdog: whatever hangs, the trial ends (and cleans up) after its limit.
        def watchdog():
            time.sleep(args.time_limit + 60)
            print("crash trial: watchdog: %.0f s passed; stopping" % (args.time_limit + 60), flush=True)
            try:
                trial.services.stop_all()
            finally:
                print("0 passed, 1 failed", flush=True)
                os._exit(1)
        threading.Thread(target=watchdog, daemon=True).start()
        trial.setup()
        t_work = now()
        trial.run_workload_and_chaos()
        t_drain = now()
        trial.drain()
        t_check = now()
        ck, sched, api_orders, api_bills = run_checks(trial)
        s = trial.services
        print("phases: setup %.0f s, workload+chaos %.0f s, drain %.0f s; total %.0f s" % (
            t_work - trial.t0, t_drain - t_work, t_check - t_drain, now() - trial.t0))
        print("kill -9: scheduler %d, api %d, broker %d (events: %s); service starts: %s" % (
            trial.kills["scheduler"], trial.kills["api"], trial.kills["broker"],
            dict(collections.Counter(e["event"] for e in trial.chaos)), dict(s.starts)))
        print("requests: %d" % len(trial.recorder.items))
        for line in summarize_requests(trial.recorder.items):
            print(line)
        print("station: %d orders (%s), %d bills; log position %s" % (
            len(sched), dict(collections.Counter(o["state"] for o in sched)), len(api_bills), trial.positions[2]))
        for n in trial.notes + s.unexpected_exits:
            print("note: " + n)
        for name in ck.order:
            fails = ck.failed.get(name, [])
            print("%s %-100s %d passed, %d failed" % ("FAIL" if fails else "ok  ", name, ck.passed[name], len(fails)))
            for d in fails[:25]:
                print("     - " + d)
            if len(fails) > 25:
                print("     ... and %d more" % (len(fails) - 25))
        npass = sum(ck.passed.values())
        nfail = sum(len(v) for v in ck.failed.values())
        extra_fail = 0
        if s.unexpected_exits:
            print("FAIL a service exited by itself: " + "; ".join(s.unexpected_exits))
            extra_fail += 1
        ok = nfail == 0 and extra_fail == 0
        if not ok or args.keep:
            print("trial folder kept: %s (requests.jsonl, trial.log, *.log, api.db, scheduler.journal)" % trial.dir)
        print("%d passed, %d failed" % (npass, nfail + extra_fail), flush=True)
    except KeyboardInterrupt as e:
        print("crash trial: interrupted (%s)" % (e or "Ctrl-C"), flush=True)
        if trial:
            print("trial folder kept: %s" % trial.dir)
        print("0 passed, 1 failed", flush=True)
    except (TrialError, OSError, MqttError, subprocess.SubprocessError) as e:
        print("crash trial: could not complete: %s" % e, flush=True)
        if trial:
            print("trial folder kept: %s" % trial.dir)
        print("0 passed, 1 failed", flush=True)
    finally:
        if trial:
            try:
                trial.stop.set()
                trial.services.stop_all()
            finally:
                trial.recorder.close()
                trial.logf.close()
                if ok and not args.keep:
                    shutil.rmtree(trial.dir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
