#!/usr/bin/env python3
"""Slow and idle clients against a running station-api, and a normal client's latency meanwhile.

Opens N connections that the server must not let hold it (default 1000, from this address):
  * header tricklers: a request line, then one byte of a header field every INTERVAL seconds;
  * body tricklers:   a whole head with Content-Length: 1000, then one body byte every INTERVAL s;
  * idle:             connect and say nothing.
A connection the server closes (its deadline) is opened again at once, as an attacker would,
so that N stay open. Meanwhile another client sends normal GET requests, one after the other,
alternating a fresh connection and a kept-alive one, each with a TIMEOUT; it prints the
answered count and p50/p90/p99/max of the answer times (an unanswered request counts as
TIMEOUT).

  bench/slowloris.py --port PORT [--host 127.0.0.1] [--slow 1000] [--idle-share 0.3]
                     [--body-share 0.3] [--interval 4] [--seconds 30] [--path /admin/index]
                     [--token TOKEN] [--timeout 5] [--gap-ms 20]

Python 3 standard library only. Raise the descriptor limit first (ulimit -n) for large N.
"""

import argparse
import http.client
import json
import resource
import selectors
import socket
import statistics
import sys
import threading
import time


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


class Attacker:
    """Keeps N slow or idle connections open on one thread (selectors)."""

    def __init__(self, host, port, slow, idle_share, body_share, interval, path):
        self.host, self.port, self.interval = host, port, interval
        n_idle = int(slow * idle_share)
        n_body = int(slow * body_share)
        self.kinds = ["idle"] * n_idle + ["body"] * n_body + ["header"] * (slow - n_idle - n_body)
        self.path = path
        self.sel = selectors.DefaultSelector()
        self.conns = {}  # sock -> dict(kind, next_at, opened)
        self.pending = []  # (reopen_at, kind)
        self.opened = 0
        self.reopened = 0
        self.refused_fast = 0  # closed within 1 s of opening (a cap, or an error)
        self.open_samples = []
        self.stop = False
        self.lock = threading.Lock()

    def first_bytes(self, kind):
        if kind == "header":
            return f"GET {self.path} HTTP/1.1\r\nHost: bench\r\nX-Slow: ".encode()
        if kind == "body":
            return (f"POST /admin/login HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                    f"Content-Length: 1000\r\n\r\n{{").encode()
        return b""

    def open_one(self, kind, now):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((self.host, self.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            self.pending.append((now + 0.1, kind))
            return
        # stagger the trickle so that bytes go out evenly, not in bursts
        state = {"kind": kind, "next_at": now + self.interval * (len(self.conns) % 97) / 97.0,
                 "opened": now, "sent_first": False}
        self.conns[s] = state
        self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, state)
        self.opened += 1

    def close_one(self, s, now):
        state = self.conns.pop(s)
        try:
            self.sel.unregister(s)
        except Exception:
            pass
        s.close()
        fast = now - state["opened"] < 1.0
        if fast:
            self.refused_fast += 1
        self.reopened += 1
        # reopen at once, or after a pause if it was refused right away
        self.pending.append((now + (0.2 if fast else 0.0), state["kind"]))

    def run(self, ready):
        now = time.monotonic()
        for i, kind in enumerate(self.kinds):
            self.open_one(kind, now)
            if i % 100 == 99:
                time.sleep(0.01)  # do not overflow the listen backlog
        ready.set()
        last_sample = 0.0
        while not self.stop:
            now = time.monotonic()
            for key, mask in self.sel.select(timeout=0.05):
                s, state = key.fileobj, key.data
                if s not in self.conns:
                    continue
                if mask & selectors.EVENT_WRITE and not state["sent_first"]:
                    state["sent_first"] = True
                    try:
                        data = self.first_bytes(state["kind"])
                        if data:
                            s.send(data)
                        self.sel.modify(s, selectors.EVENT_READ, state)
                    except OSError:
                        self.close_one(s, now)
                        continue
                if mask & selectors.EVENT_READ:
                    try:
                        data = s.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        self.close_one(s, now)
            # trickle
            for s, state in list(self.conns.items()):
                if state["kind"] == "idle" or not state["sent_first"] or now < state["next_at"]:
                    continue
                state["next_at"] = now + self.interval
                try:
                    s.send(b"a" if state["kind"] == "header" else b" ")
                except BlockingIOError:
                    pass
                except OSError:
                    self.close_one(s, now)
            # reopen
            due = [p for p in self.pending if p[0] <= now]
            self.pending = [p for p in self.pending if p[0] > now]
            for _, kind in due:
                self.open_one(kind, now)
            if now - last_sample >= 0.5:
                last_sample = now
                with self.lock:
                    self.open_samples.append(len(self.conns))
        for s in list(self.conns):
            s.close()


def one_request(conn_holder, host, port, path, token, timeout, fresh):
    """One GET; returns (ms, ok)."""
    headers = {"token": token} if token else {}
    t0 = time.monotonic()
    try:
        if fresh or conn_holder[0] is None:
            c = http.client.HTTPConnection(host, port, timeout=timeout)
        else:
            c = conn_holder[0]
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        r.read()
        ms = (time.monotonic() - t0) * 1000
        ok = r.status == 200
        if fresh:
            c.close()
        else:
            conn_holder[0] = c
            if r.getheader("Connection", "").lower() == "close":
                c.close()
                conn_holder[0] = None
        return ms, ok
    except (OSError, http.client.HTTPException):
        if not fresh and conn_holder[0] is not None:
            conn_holder[0].close()
            conn_holder[0] = None
        return timeout * 1000.0, False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--slow", type=int, default=1000)
    ap.add_argument("--idle-share", type=float, default=0.3)
    ap.add_argument("--body-share", type=float, default=0.3)
    ap.add_argument("--interval", type=float, default=4.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--settle", type=float, default=2.0, help="seconds between opening and measuring")
    ap.add_argument("--path", default="/admin/index")
    ap.add_argument("--token", default="")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--gap-ms", type=float, default=20.0)
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = a.slow + 256
    if soft < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
        except (ValueError, OSError):
            pass
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft < need:
            print(f"warning: descriptor limit {soft} < {need}; raise it (ulimit -n)", file=sys.stderr)

    # the normal client's baseline, before the attack
    holder = [None]
    base = [one_request(holder, a.host, a.port, a.path, a.token, a.timeout, i % 2 == 0)[0] for i in range(40)]

    attacker = Attacker(a.host, a.port, a.slow, a.idle_share, a.body_share, a.interval, a.path)
    ready = threading.Event()
    t = threading.Thread(target=attacker.run, args=(ready,), daemon=True)
    t.start()
    ready.wait()
    time.sleep(a.settle)

    times, oks, fresh_times, kept_times = [], 0, [], []
    holder = [None]
    end = time.monotonic() + a.seconds
    i = 0
    while time.monotonic() < end:
        fresh = i % 2 == 0
        ms, ok = one_request(holder, a.host, a.port, a.path, a.token, a.timeout, fresh)
        times.append(ms)
        (fresh_times if fresh else kept_times).append(ms)
        oks += ok
        i += 1
        time.sleep(a.gap_ms / 1000.0)
    attacker.stop = True
    t.join(timeout=5)
    with attacker.lock:
        samples = list(attacker.open_samples)
    result = {
        "slow_target": a.slow,
        "slow_open_min": min(samples) if samples else 0,
        "slow_open_mean": round(statistics.mean(samples), 1) if samples else 0,
        "slow_reopened": attacker.reopened,
        "slow_refused_fast": attacker.refused_fast,
        "baseline_p50_ms": round(percentile(base, 0.5), 2),
        "baseline_p99_ms": round(percentile(base, 0.99), 2),
        "requests": len(times),
        "answered_ok": oks,
        "within_timeout": sum(1 for x in times if x < a.timeout * 1000),
        "p50_ms": round(percentile(times, 0.5), 2),
        "p90_ms": round(percentile(times, 0.9), 2),
        "p99_ms": round(percentile(times, 0.99), 2),
        "max_ms": round(max(times), 2) if times else float("nan"),
        "fresh_p99_ms": round(percentile(fresh_times, 0.99), 2),
        "kept_alive_p99_ms": round(percentile(kept_times, 0.99), 2),
    }
    if a.json:
        print(json.dumps(result))
        return
    print(f"slow/idle connections: target {a.slow} (idle {a.idle_share:.0%}, body {a.body_share:.0%}, "
          f"headers the rest; a byte every {a.interval:g} s), open during the measure "
          f"min {result['slow_open_min']} mean {result['slow_open_mean']}, "
          f"closed by the server and reopened {result['slow_reopened']} "
          f"(of which within 1 s of opening: {result['slow_refused_fast']})")
    print(f"before the attack: GET {a.path}  p50 {result['baseline_p50_ms']} ms  p99 {result['baseline_p99_ms']} ms")
    print(f"during the attack: GET {a.path}  {result['requests']} requests in {a.seconds:g} s, "
          f"{result['answered_ok']} answered 200, {result['within_timeout']} within {a.timeout:g} s")
    print(f"  p50 {result['p50_ms']} ms  p90 {result['p90_ms']} ms  p99 {result['p99_ms']} ms  "
          f"max {result['max_ms']} ms  (fresh connection p99 {result['fresh_p99_ms']} ms, "
          f"kept-alive p99 {result['kept_alive_p99_ms']} ms)")


if __name__ == "__main__":
    main()
