#!/usr/bin/env python3
"""The attack suite (issue #9): the running system on the production broker configuration
(broker/prod.conf with its ACL and a password per account), attacked the ways the threat
model of docs/security.md names, while slow clients hold connections open:

  tokens (none, garbage, alg:none, a foreign key, truncated, wrong role), other users' ids,
  malformed HTTP on raw sockets, hostile bodies, MQTT (anonymous, forged station messages
  and requests from a pile account, junk on the pile's own and other piles' topics, a pile
  taking the scheduler's and the API's client ids).

Every request must be answered (no 5xx but the documented 505 and 503, no hang), no
process may die, and nothing may change: the users' balances, cars and orders and the
station as the operator sees it are compared before and after (the station clock is
stopped, so nothing moves by itself). A normal client keeps being answered promptly.

    attack_suite.py --bin-dir BUILD --repo SOURCE
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

PILES = ["F1", "F2", "T1", "T2", "T3"]  # profile bupt-2023
PILE_PASSWORD = "pw-pile"
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


class Api:
    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None, token=None, raw_body=None, headers=None, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Content-Type": "application/json"}
        if token is not None:
            h["token"] = token
        h.update(headers or {})
        data = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
        c.request(method, path, data, h)
        r = c.getresponse()
        text = r.read()
        c.close()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        return r.status, parsed


def raw_exchange(port, payload, timeout=5.0):
    """Sends bytes on a fresh connection; the status line of the answer, or "closed"."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(payload)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return "closed"
            data += chunk
        return data.split(b"\r\n", 1)[0].decode("latin-1")
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    finally:
        s.close()


class System:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="station-attack-")
        os.chmod(self.dir, 0o711)  # mosquitto, dropping root, reaches its files in here
        self.procs = {}

    def start(self):
        a = self.args
        passwd = os.path.join(self.dir, "passwd")
        open(passwd, "w").close()
        for user in ["scheduler", "api", "monitor"] + PILES:
            pw = PILE_PASSWORD if user in PILES else "pw-" + user
            subprocess.run(["mosquitto_passwd", "-b", passwd, user, pw], check=True)
        subprocess.run([os.path.join(a.repo, "broker/start-prod.sh"), os.path.join(self.dir, "broker"),
                        passwd], check=True, stdout=subprocess.DEVNULL)
        self.broker_port = int(open(os.path.join(self.dir, "broker/broker.port")).read())
        self.broker_pid = int(open(os.path.join(self.dir, "broker/broker.pid")).read())
        uri = f"tcp://127.0.0.1:{self.broker_port}"
        self.spawn("scheduler", "pw-scheduler",
                   [os.path.join(a.bin_dir, "scheduler/service/station-scheduler"), "--broker", uri,
                    "--profile", "bupt-2023", "--mqtt-user", "scheduler",
                    "--sim-start", "2026-11-25 06:00:00", "--sim-speed", "0"])
        self.spawn("piles", PILE_PASSWORD,
                   [os.path.join(a.bin_dir, "pile-sim/station-pile-sim"), "--broker", uri,
                    "--profile", "bupt-2023"])
        port_file = os.path.join(self.dir, "api.port")
        env = {"STATION_ADMIN_ACCOUNT": "admin@attack.test", "STATION_ADMIN_PASSWORD": "admin-pw"}
        self.spawn("api", "pw-api",
                   [os.path.join(a.bin_dir, "api/station-api"), "--broker", uri, "--mqtt-user", "api",
                    "--db", os.path.join(self.dir, "station.db"), "--port", "0", "--port-file",
                    port_file, "--password-iterations", "1000"], env)
        for _ in range(200):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        self.api = Api(int(open(port_file).read()))

    def spawn(self, name, password, argv, extra_env=None):
        env = dict(os.environ, STATION_MQTT_PASSWORD=password, **(extra_env or {}))
        log = open(os.path.join(self.dir, name + ".log"), "w")
        self.procs[name] = subprocess.Popen(argv, env=env, stdout=log, stderr=log)

    def dead(self):
        dead = [n for n, p in self.procs.items() if p.poll() is not None]
        try:
            os.kill(self.broker_pid, 0)
        except OSError:
            dead.append("broker")
        return dead

    def mqtt(self, tool, user, password, *args, timeout=5):
        cmd = [tool, "-h", "127.0.0.1", "-p", str(self.broker_port), "-q", "1"]
        if user:
            cmd += ["-u", user, "-P", password]
        return subprocess.run(cmd + list(args), capture_output=True, timeout=timeout + 5)

    def stop(self, keep):
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        try:
            os.kill(self.broker_pid, 15)
        except OSError:
            pass
        if keep:
            print(f"logs kept in {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def data(reply):
    status, body = reply
    assert status == 200 and body and body.get("code") in (0, 200), reply
    return body["data"]


def view(api, admin, users):
    """What must not change: each user's account, cars and orders, and the station."""
    out = {}
    for name, token in users.items():
        out[name] = {
            "information": data(api.call("GET", "/client/index/information", token=token)),
            "current": data(api.call("GET", "/client/index/order?mode=CURRENT", token=token)),
            "history": data(api.call("GET", "/client/index/order?mode=HISTORY", token=token)),
        }
    out["station"] = data(api.call("GET", "/admin/index/manage", token=admin))
    return out


def forged_token(secret, claims):
    enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = enc(json.dumps(claims).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{enc(sig)}"


class SlowClients:
    """Connections trickling a request one byte at a time, and idle ones."""

    def __init__(self, port, count):
        self.stop = threading.Event()
        self.socks = []
        for i in range(count):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                self.socks.append(s)
            except OSError:
                break
        self.thread = threading.Thread(target=self.trickle, daemon=True)
        self.thread.start()

    def trickle(self):
        text = b"POST /client/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"a" * 100000
        at = 0
        while not self.stop.wait(1.0) and at < len(text):
            for i, s in enumerate(self.socks):
                if i % 3 == 0:
                    continue  # idle ones
                try:
                    s.send(text[at:at + 1])
                except OSError:
                    pass
            at += 1

    def close(self):
        self.stop.set()
        for s in self.socks:
            s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin-dir", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--slow", type=int, default=200, help="slow connections held meanwhile")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    system = System(args)
    try:
        system.start()
        run(system, args)
    finally:
        system.stop(keep=args.keep or bool(failures))
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("every attack answered, nothing changed")


def run(system, args):
    api = system.api
    admin = None
    for _ in range(100):
        try:
            admin = data(api.call("POST", "/admin/login",
                                  {"account": "admin@attack.test", "password": "admin-pw"}))["token"]
            break
        except Exception:
            time.sleep(0.1)
    for _ in range(100):  # the piles online through the secure broker
        piles = data(api.call("GET", "/admin/index/manage", token=admin))["charge_array"]
        if piles and all(p["state"] == "REST" for p in piles):
            break
        time.sleep(0.2)
    users, cars, orders = {}, {}, {}
    for name in ("alice", "bob"):
        users[name] = data(api.call("POST", "/client/register",
                                    {"account": f"{name}@attack.test", "password": "pw", "name": name}))["token"]
        cars[name] = data(api.call("POST", "/client/index/car",
                                   {"name": name + "-car", "power_capacity": 60, "power_current": 5},
                                   token=users[name]))["car_id"]
        data(api.call("POST", "/client/index/recharge", {"amount": "100"}, token=users[name]))
        orders[name] = data(api.call("POST", "/client/index/order",
                                     {"car_id": cars[name], "mode": "F" if name == "alice" else "T",
                                      "apply_kwh": 10}, token=users[name]))["id"]
    time.sleep(0.5)
    before = view(api, admin, users)
    slow = SlowClients(api.port, args.slow)
    answered = []  # (status, ms) of every attack request

    def attack(method, path, body=None, token=None, raw_body=None, headers=None):
        t0 = time.perf_counter()
        status, reply = api.call(method, path, body, token, raw_body, headers)
        answered.append((method + " " + path, status, (time.perf_counter() - t0) * 1000))
        return status, reply

    # Tokens.
    real = users["alice"]
    for label, token in [("none", None), ("garbage", "x.y.z"), ("truncated", real[:-5]),
                         ("alg none", base64.urlsafe_b64encode(b'{"alg":"none"}').decode().rstrip("=")
                          + "." + real.split(".")[1] + "."),
                         ("a foreign key", forged_token(b"not-the-key" * 4,
                                                        {"sub": "1", "role": "admin", "exp": 4102444800}))]:
        for method, path in [("GET", "/client/index/information"), ("GET", "/admin/index/manage"),
                             ("POST", "/client/index/recharge")]:
            status, _ = attack(method, path, {"amount": "1000"} if method == "POST" else None, token)
            check(status == 401, f"token {label}: {method} {path} is 401 (got {status})")
    status, _ = attack("GET", "/admin/index/manage", token=real)
    check(status == 403, f"a user's token on an admin route is 403 (got {status})")
    status, _ = attack("POST", "/admin/index/manage", {"mode": "SWITCHOFF", "switch_array": ["F1"]}, real)
    check(status == 403, f"a user cannot switch piles (got {status})")

    # Other users' ids.
    bob = users["bob"]
    for method, path, body in [
        ("PATCH", "/client/index/car", {"car_id": cars["alice"], "name": "mine"}),
        ("DELETE", "/client/index/car", {"car_id": cars["alice"]}),
        ("PATCH", "/client/index/order", {"id": orders["alice"], "apply_kwh": 1}),
        ("DELETE", "/client/index/order", {"id": orders["alice"]}),
        ("POST", "/client/index/order", {"car_id": cars["alice"], "mode": "F", "apply_kwh": 1}),
    ]:
        status, reply = attack(method, path, body, bob)
        err = (reply or {}).get("error", "")
        check(status in (200, 404) and err in ("car_not_found", "order_not_found"),
              f"bob's {method} {path} on alice's id answers unknown (got {status} {err})")

    # Hostile bodies.
    for label, raw in [("a key twice", '{"amount":"1","amount":"999999"}'),
                       ("deep nesting", "[" * 30000 + "]" * 30000),
                       ("not JSON", "\x00\xff{"), ("a huge number", '{"amount":1e999}'),
                       ("an object for a string", '{"amount":{"a":1}}')]:
        status, _ = attack("POST", "/client/index/recharge", raw_body=raw, token=real)
        check(status in (400, 413), f"recharge with {label} is refused (got {status})")
    status, _ = attack("POST", "/client/index/car", {"name": "<img src=x onerror=alert(1)>",
                                                     "power_capacity": 5e-324, "power_current": 0}, real)
    check(status == 400, f"a battery of 5e-324 kWh is refused (got {status})")

    # Malformed HTTP on raw sockets.
    port = api.port
    for label, payload, allowed in [
        ("Content-Length with chunked",
         b"POST /client/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         ("400",)),
        ("a non-numeric Content-Length", b"POST /client/login HTTP/1.1\r\nHost: x\r\nContent-Length: ab\r\n\r\n", ("400",)),
        ("an overflowing Content-Length",
         b"POST /client/login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", ("400",)),
        ("HTTP/3.7", b"GET /client/index HTTP/3.7\r\nHost: x\r\n\r\n", ("505", "400")),
        ("a 20 KiB header", b"GET /client/index HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20000 + b"\r\n\r\n", ("431",)),
        ("binary junk", bytes(range(256)) * 4 + b"\r\n\r\n", ("400", "closed")),
        ("no Host", b"GET /client/index HTTP/1.1\r\n\r\n", ("400",)),
    ]:
        line = raw_exchange(port, payload)
        code = line.split(" ")[1] if line.startswith("HTTP/") else line
        check(code in allowed and not line.startswith("HTTP/3"),
              f"{label}: answered {line!r}")

    # The bus: anonymous, forged station messages, requests from a pile, junk, client ids.
    r = system.mqtt("mosquitto_pub", None, None, "-t", "evcs/v1/piles/F1/status", "-m", "{}")
    check(r.returncode != 0, "an anonymous client is refused by the broker")
    forged_batch = json.dumps({"run": "x", "from": 0, "to": 1, "orders": [], "bills": [
        {"bill": 0, "order": 0, "car": cars["alice"], "pile": "F1", "start_ms": 0, "stop_ms": 1,
         "kwh": 1, "hours": 1, "charge_fee": -5000, "service_fee": 0, "reason": "completed", "pos": 1}]})
    for topic, payload in [
        ("evcs/v1/station/changes", forged_batch),
        ("evcs/v1/station/state", '{"at_ms":1}'),
        ("evcs/v1/scheduler/requests",
         json.dumps({"id": "evil", "reply_to": "evcs/v1/replies/F1", "op": "cancel", "car": cars["alice"]})),
        ("evcs/v1/piles/F2/status", '{"pile":"F2","online":false}'),
        ("evcs/v1/piles/F1/status", "garbage"),
        ("evcs/v1/piles/F1/telemetry", '{"pile":"F1","energy_kwh":1e308}'),
        ("evcs/v1/piles/F1/events", '{"pile":"F1","type":"exploded"}'),
        ("evcs/v1/piles/F1/events", "x" * 100000),
    ]:
        system.mqtt("mosquitto_pub", "F1", PILE_PASSWORD, "-t", topic, "-m", payload)
    for stolen in ("station-scheduler", "station-api", "scheduler", "api"):
        # Hold the id for two seconds: with ids bound to accounts it takes nobody's session.
        system.mqtt("mosquitto_sub", "F1", PILE_PASSWORD, "-i", stolen, "-t", "evcs/v1/clock", "-W", "2",
                    timeout=3)
    time.sleep(0.5)
    status, reply = api.call("GET", "/admin/sim/clock", token=admin)
    check(status == 200 and (reply or {}).get("code") == 0,
          f"the API still reaches the scheduler after the bus attacks (got {status})")

    # Nothing changed; every answer came; nobody died; a normal client was served meanwhile.
    after = view(api, admin, users)
    for key in before:
        check(before[key] == after[key], f"{key}: unchanged by the attacks")
    server_errors = [a for a in answered if a[1] >= 500]
    check(not server_errors, f"no attack request got a 5xx ({server_errors[:3]})")
    slowest = max(ms for _, _, ms in answered)
    check(slowest < 5000, f"every attack request was answered within 5 s (slowest {slowest:.0f} ms)")
    t0 = time.perf_counter()
    data(api.call("GET", "/client/index/information", token=real))
    ms = (time.perf_counter() - t0) * 1000
    check(ms < 1000, f"with {len(slow.socks)} slow connections a normal request took {ms:.0f} ms")
    slow.close()
    check(not system.dead(), f"every process is still running (dead: {system.dead()})")
    log = open(os.path.join(system.dir, "scheduler.log")).read()
    check("dropped" in log or "refused" in log or "malformed" in log,
          "the scheduler logged the junk it dropped")


if __name__ == "__main__":
    main()
