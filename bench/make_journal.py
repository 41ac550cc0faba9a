#!/usr/bin/env python3
"""Writes a scheduler journal of N command lines for bench/restart_bench.sh: per order a
submit, a change and a cancel, two pile faults and recoveries, and three clock steps (ten
lines), on the bupt-2023 profile (piles F1 F2 T1 T2 T3).

    make_journal.py N [ORDERS]

With ORDERS, the first ORDERS orders are made that way and the rest of the N lines are
pile faults, recoveries and clock steps only: a long history over a station that no
longer grows (what a restart's time must not depend on)."""
import json
import sys

n = int(sys.argv[1])
orders = int(sys.argv[2]) if len(sys.argv) > 2 else None
at = 1795586400000  # 2026-11-25 06:00:00 station time
out = sys.stdout
out.write(json.dumps({"op": "start", "at": at, "run": "bench-run", "profile": "bupt-2023",
                      "piles": ["F1", "F2", "T1", "T2", "T3"], "simulated": True}) + "\n")
t = at
lines = 0
k = 0
piles = ["F1", "F2", "T1", "T2", "T3"]
while lines < n:
    car = "c%d" % k
    pile = piles[k % 5]
    if orders is not None and k >= orders:
        block = [
            {"op": "fault", "pile": pile, "duration_ms": 0},
            {"op": "recover", "pile": pile},
            {"op": "clock", "speed": 0},
        ]
    else:
        block = [
            {"op": "submit", "car": car, "mode": "F" if k % 2 else "T", "kwh": 5 + k % 20},
            {"op": "change", "car": car, "kwh": 6 + k % 20},
            {"op": "fault", "pile": pile, "duration_ms": 0},
            {"op": "recover", "pile": pile},
            {"op": "clock", "speed": 0},
            {"op": "cancel", "car": car},
            {"op": "fault", "pile": pile, "duration_ms": 60000},
            {"op": "recover", "pile": pile},
            {"op": "clock", "speed": 0},
            {"op": "clock", "speed": 0},
        ]
    for c in block:
        if lines >= n:
            break
        t += 1000
        c["t"] = t
        out.write(json.dumps(c, separators=(",", ":")) + "\n")
        lines += 1
    k += 1
