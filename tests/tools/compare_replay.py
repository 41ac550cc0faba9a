#!/usr/bin/env python3
"""Compares two outputs of station-replay (docs/scenario-format.md) structurally.

usage: compare_replay.py EXPECTED.jsonl ACTUAL.jsonl [--max N]

Prints "match" and exits 0 when ACTUAL agrees with EXPECTED; otherwise prints the
differences (the first N, default 8, then how many more) and exits 1. Exits 2 when a
file cannot be read or a line is not a JSON object.

What "agrees" means (the tolerances of docs/scenario-format.md: 0.01 for kWh, CNY and
hours, 1 s for times):

snapshot lines (one per event time)
  * the same number of lines, with the same "t" and "day" on each;
  * events: as many, with the same "ok" (the event text and the reason are only shown);
  * piles: the same ids in the same order; per pile the same state and the same cars
    in its queue in order, each with kwh and fee within tolerance;
  * waiting: the same cars in order with the same number and mode, kwh within tolerance;
  * redispatch: per mode (F, T) the same cars in order with the same number, kwh within
    tolerance. The order between the F and the T group is not compared.
final line ("end")
  * the end time within 1 s;
  * bills paired by (car, number), which names one order; the order of the list is not
    compared. Each bill: the same state, kwh and fees within tolerance, and the same
    sessions in order (same pile, start and stop within 1 s, amounts within tolerance).
    A session of 0 kWh and 0 hours is left out on both sides: station-rules §6 says it
    makes no bill, but one printed anyway is tolerated.
"""
import argparse
import json
import sys

AMOUNT_TOLERANCE = 0.01  # kWh, CNY, hours
SECONDS_TOLERANCE = 1
_EPSILON = 1e-9  # two amounts rounded to cents may differ by 0.01 plus float noise
SECONDS_PER_DAY = 24 * 3600
BILL_AMOUNTS = ("kwh", "charge_fee", "service_fee", "total")
SESSION_AMOUNTS = ("kwh", "hours", "charge_fee", "service_fee", "total")


class BadInput(Exception):
    pass


def read_replay(path):
    """(snapshot lines, final line or None) of one replay output."""
    snapshots, finals = [], []
    try:
        with open(path, encoding="utf-8") as f:
            for number, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    line = json.loads(text)
                except ValueError as e:
                    raise BadInput("%s:%d: not JSON (%s)" % (path, number, e))
                if not isinstance(line, dict):
                    raise BadInput("%s:%d: not a JSON object" % (path, number))
                (finals if "end" in line else snapshots).append(line)
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput("%s: %s" % (path, e))
    if len(finals) > 1:
        raise BadInput("%s: %d final lines, expected one" % (path, len(finals)))
    return snapshots, (finals[0] if finals else None)


def amounts_differ(expected, actual):
    try:
        return abs(float(expected) - float(actual)) > AMOUNT_TOLERANCE + _EPSILON
    except (TypeError, ValueError):
        return True


def station_seconds(clock, day):
    """Seconds since 00:00 of day 0 for "HH:MM:SS" (or "HH:MM") on the given day."""
    parts = [int(p) for p in str(clock).split(":")]
    if len(parts) == 2:
        parts.append(0)
    if len(parts) != 3:
        raise ValueError("bad time %r" % (clock,))
    hours, minutes, seconds = parts
    return int(day) * SECONDS_PER_DAY + hours * 3600 + minutes * 60 + seconds


def times_differ(expected, actual):
    """expected and actual are (clock, day) pairs; a malformed actual differs."""
    try:
        return abs(station_seconds(*expected) - station_seconds(*actual)) > SECONDS_TOLERANCE
    except (TypeError, ValueError):
        return True


def show_cars(cars, *fields):
    shown = []
    for car in cars:
        shown.append("%s(%s)" % (car.get("car"), ", ".join(str(car.get(f)) for f in fields)))
    return "[" + " ".join(shown) + "]"


def compare_queue(where, expected, actual):
    if [c.get("car") for c in expected] != [c.get("car") for c in actual]:
        yield where, "queue %s, expected %s" % (
            show_cars(actual, "kwh", "fee"), show_cars(expected, "kwh", "fee"))
        return
    for e, a in zip(expected, actual):
        if amounts_differ(e.get("kwh"), a.get("kwh")) or amounts_differ(e.get("fee"), a.get("fee")):
            yield where, "car %s has kwh %s fee %s, expected kwh %s fee %s" % (
                e.get("car"), a.get("kwh"), a.get("fee"), e.get("kwh"), e.get("fee"))


def compare_car_list(where, name, expected, actual, keys):
    same_cars = [tuple(c.get(k) for k in keys) for c in expected] == \
        [tuple(c.get(k) for k in keys) for c in actual]
    if not same_cars or any(amounts_differ(e.get("kwh"), a.get("kwh"))
                            for e, a in zip(expected, actual)):
        yield where, "%s %s, expected %s" % (
            name, show_cars(actual, "number", "kwh"), show_cars(expected, "number", "kwh"))


def compare_snapshot(index, expected, actual):
    where = "line %d (%s day %s)" % (index, expected.get("t"), expected.get("day"))
    if (expected.get("t"), expected.get("day")) != (actual.get("t"), actual.get("day")):
        yield where, "actual line is at %s day %s" % (actual.get("t"), actual.get("day"))
        return

    events_e, events_a = expected.get("events", []), actual.get("events", [])
    if len(events_e) != len(events_a):
        yield where, "%d events, expected %d" % (len(events_a), len(events_e))
    for e, a in zip(events_e, events_a):
        if bool(e.get("ok")) != bool(a.get("ok")):
            reason = a.get("reason") or e.get("reason")
            yield where, "event %s: ok %s, expected %s%s" % (
                e.get("event"), json.dumps(bool(a.get("ok"))), json.dumps(bool(e.get("ok"))),
                " (reason: %s)" % reason if reason else "")

    piles_e, piles_a = expected.get("piles", []), actual.get("piles", [])
    ids_e, ids_a = [p.get("id") for p in piles_e], [p.get("id") for p in piles_a]
    if ids_e != ids_a:
        yield where, "piles %s, expected %s" % (ids_a, ids_e)
    by_id = {p.get("id"): p for p in piles_a}
    for pile in piles_e:
        other = by_id.get(pile.get("id"))
        if other is None:
            continue
        at = "%s pile %s" % (where, pile.get("id"))
        if pile.get("state") != other.get("state"):
            yield at, "state %s, expected %s" % (other.get("state"), pile.get("state"))
        yield from compare_queue(at, pile.get("queue", []), other.get("queue", []))

    yield from compare_car_list(where, "waiting", expected.get("waiting", []),
                                actual.get("waiting", []), ("car", "number", "mode"))
    for mode in ("F", "T"):
        group_e = [c for c in expected.get("redispatch", []) if c.get("mode") == mode]
        group_a = [c for c in actual.get("redispatch", []) if c.get("mode") == mode]
        yield from compare_car_list(where, "redispatch " + mode, group_e, group_a,
                                    ("car", "number"))


def charged_sessions(bill):
    """The bill's sessions without the zero-length ones."""
    kept = []
    for session in bill.get("sessions", []):
        try:
            empty = float(session.get("kwh", 0)) == 0 and float(session.get("hours", 0)) == 0
        except (TypeError, ValueError):
            empty = False
        if not empty:
            kept.append(session)
    return kept


def compare_sessions(where, expected, actual):
    if len(expected) != len(actual):
        outline = lambda ss: [(s.get("pile"), s.get("start"), s.get("stop")) for s in ss]
        yield where, "%d sessions %s, expected %d %s" % (
            len(actual), outline(actual), len(expected), outline(expected))
        return
    for number, (e, a) in enumerate(zip(expected, actual), start=1):
        at = "%s session %d" % (where, number)
        if e.get("pile") != a.get("pile"):
            yield at, "pile %s, expected %s" % (a.get("pile"), e.get("pile"))
        for edge in ("start", "stop"):
            day = edge + "_day"
            if times_differ((e.get(edge), e.get(day)), (a.get(edge), a.get(day))):
                yield at, "%s %s day %s, expected %s day %s" % (
                    edge, a.get(edge), a.get(day), e.get(edge), e.get(day))
        for field in SESSION_AMOUNTS:
            if amounts_differ(e.get(field), a.get(field)):
                yield at, "%s %s, expected %s" % (field, a.get(field), e.get(field))


def compare_final(expected, actual):
    if expected is None or actual is None:
        if expected is not actual:
            yield "final line", "missing in the %s output" % (
                "expected" if expected is None else "actual")
        return
    end_e, end_a = expected.get("end") or {}, actual.get("end")
    if not isinstance(end_a, dict) or times_differ(
            (end_e.get("t"), end_e.get("day")), (end_a.get("t"), end_a.get("day"))):
        shown = "%s day %s" % (end_a.get("t"), end_a.get("day")) if isinstance(end_a, dict) \
            else repr(end_a)
        yield "final line", "end %s, expected %s day %s" % (shown, end_e.get("t"), end_e.get("day"))

    order = lambda bill: (bill.get("car"), bill.get("number"))
    bills_e, bills_a = expected.get("bills", []), actual.get("bills", [])
    actual_by_order = {}
    for bill in bills_a:
        actual_by_order.setdefault(order(bill), bill)
    expected_orders = {order(bill) for bill in bills_e}
    for bill in bills_a:
        if order(bill) not in expected_orders:
            yield "bills", "unexpected bill %s/%s (%s)" % (
                bill.get("car"), bill.get("number"), bill.get("state"))
    for bill in bills_e:
        other = actual_by_order.get(order(bill))
        where = "bill %s/%s" % order(bill)
        if other is None:
            yield where, "missing (expected %s)" % bill.get("state")
            continue
        if bill.get("state") != other.get("state"):
            yield where, "state %s, expected %s" % (other.get("state"), bill.get("state"))
        for field in BILL_AMOUNTS:
            if amounts_differ(bill.get(field), other.get(field)):
                yield where, "%s %s, expected %s" % (field, other.get(field), bill.get(field))
        yield from compare_sessions(where, charged_sessions(bill), charged_sessions(other))


def differences(expected, actual):
    (snapshots_e, final_e), (snapshots_a, final_a) = expected, actual
    if len(snapshots_e) != len(snapshots_a):
        yield "snapshots", "%d lines, expected %d" % (len(snapshots_a), len(snapshots_e))
    for index, (e, a) in enumerate(zip(snapshots_e, snapshots_a), start=1):
        yield from compare_snapshot(index, e, a)
    yield from compare_final(final_e, final_a)


def main(argv):
    parser = argparse.ArgumentParser(
        description="Compare two station-replay outputs (docs/scenario-format.md).")
    parser.add_argument("expected", help="the expected JSON lines")
    parser.add_argument("actual", help="the JSON lines to judge")
    parser.add_argument("--max", type=int, default=8, metavar="N",
                        help="how many differences to print (default 8)")
    args = parser.parse_args(argv)
    try:
        expected, actual = read_replay(args.expected), read_replay(args.actual)
    except BadInput as e:
        print("compare_replay: %s" % e, file=sys.stderr)
        return 2
    found = list(differences(expected, actual))
    if not found:
        print("match")
        return 0
    for where, what in found[:max(args.max, 0)]:
        print("%s: %s" % (where, what))
    if len(found) > args.max:
        print("... %d more differences" % (len(found) - max(args.max, 0)))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
