#!/usr/bin/env python3
"""Logins flooding the REST API, and the operator's station view meanwhile (issue #9).

FLOOD threads log in without pause with the right password (each login costs the full
password hashing and none is ever locked out), each from its own connection, while one
client reads GET /admin/index/manage (the station snapshot) for SECONDS. Prints the
snapshot's p50/p99 and how the logins were answered.
    login_flood.py API ADMIN_TOKEN FLOOD SECONDS"""
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

api, admin, flood, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
u = urllib.parse.urlparse(api)
stop = threading.Event()
answers = {}
lock = threading.Lock()


def flooder(i):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    while not stop.is_set():
        try:
            c.request("POST", "/client/login", json.dumps({"account": "load@bench.test", "password": "load"}),
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            body = json.loads(r.read())
            key = f"{r.status} {body.get('error', 'ok')}"
        except Exception as e:  # a refused or reset connection is an answer too
            key = type(e).__name__
            c.close()
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        with lock:
            answers[key] = answers.get(key, 0) + 1


threads = [threading.Thread(target=flooder, args=(i,), daemon=True) for i in range(flood)]
for t in threads:
    t.start()
time.sleep(1)  # the flood is under way
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
lat = []
end = time.time() + seconds
while time.time() < end:
    t0 = time.perf_counter()
    c.request("GET", "/admin/index/manage", headers={"token": admin})
    r = c.getresponse()
    r.read()
    lat.append((time.perf_counter() - t0) * 1000)
    if r.status != 200:
        print(f"snapshot answered {r.status}", file=sys.stderr)
    time.sleep(0.05)
stop.set()
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"snapshot reads: {len(lat)}, p50 {statistics.median(lat):.1f} ms, p99 {p(0.99):.1f} ms, max {lat[-1]:.1f} ms")
print("logins answered: " + ", ".join(f"{k}: {v}" for k, v in sorted(answers.items())))
