#!/usr/bin/env python3
"""Checks recorded API responses against the field tables of the API document.

usage: contract_check.py API_DOC.md RESPONSES.jsonl

Each line of RESPONSES is {"method": "GET", "path": "/client/index/order", "body": {...}}.
For every endpoint the document gives a "返回数据结构" table (rows like
"|»» id|string|true|...", depth = number of »). Every required field must be present with
the table's type, and optional ones must have it when present; fields the table does not
list are allowed (station-rules §9: fields may be added, none missing or retyped). Exits 0
when all responses conform, 1 with one line per violation otherwise.
"""
import json
import re
import sys

HEADING = re.compile(r"^## (GET|POST|PATCH|DELETE|PUT) ")
ENDPOINT = re.compile(r"^(GET|POST|PATCH|DELETE|PUT) (/\S*)$")
ROW = re.compile(r"^\|(»+) ?([^|]*)\|([^|]*)\|([^|]*)\|")


class Node:
    def __init__(self, name, type_text, required):
        self.name = name
        self.type = type_text.strip()
        self.required = required
        self.children = []
        self.item = None  # for arrays: the node describing one element

    def add(self, node):
        # A row naming no field (a Chinese caption of the element type, e.g. "充电桩")
        # describes the elements of this array.
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", node.name):
            self.item = node
        else:
            self.children.append(node)


def parse_tables(text):
    """{(method, path): root Node} from the document."""
    tables = {}
    lines = text.splitlines()
    i = 0
    current = None
    while i < len(lines):
        line = lines[i].strip()
        m = ENDPOINT.match(line)
        if m and i > 0 and any(HEADING.match(lines[k]) for k in range(max(0, i - 3), i)):
            current = (m.group(1), m.group(2))
        if line == "### 返回数据结构" and current:
            root = Node("", "object", True)
            stack = [(0, root)]
            i += 1
            while i < len(lines) and not lines[i].startswith("#"):
                r = ROW.match(lines[i].strip())
                if r:
                    depth = len(r.group(1))
                    node = Node(r.group(2).strip(), r.group(3), r.group(4).strip() == "true")
                    while stack[-1][0] >= depth:
                        stack.pop()
                    parent = stack[-1][1]
                    target = parent.item if parent.item is not None and parent.type.startswith("[") else parent
                    target.add(node)
                    stack.append((depth, node))
                i += 1
            tables[current] = root
            current = None
            continue
        i += 1
    return tables


def type_ok(type_text, value):
    """Whether value has the document's type (e.g. "integer", "object¦null", "[[Charge](..)]")."""
    options = [t.strip() for t in type_text.split("¦")]
    for t in options:
        if t == "null" and value is None:
            return True
        if t == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if t == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if t == "string" and isinstance(value, str):
            return True
        if t == "boolean" and isinstance(value, bool):
            return True
        if t == "object" and isinstance(value, dict):
            return True
        if t.startswith("[[") or t.startswith("[object]") or t == "[string]":
            if isinstance(value, list):
                return True
        elif t.startswith("[Time]") or t.startswith("[Time]("):
            if isinstance(value, str):
                return True
        elif t.startswith("[") and isinstance(value, dict):  # [Charge](#schemacharge): one element
            return True
    return False


def check(node, value, where, problems):
    for child in node.children:
        path = f"{where}.{child.name}" if where else child.name
        if not isinstance(value, dict) or child.name not in value:
            if child.required:
                problems.append(f"{path}: missing (required {child.type})")
            continue
        v = value[child.name]
        if not type_ok(child.type, v):
            problems.append(f"{path}: {json.dumps(v, ensure_ascii=False)[:60]} is not {child.type}")
            continue
        if isinstance(v, list):
            target = child.item if child.item is not None else child
            for k, element in enumerate(v):
                if child.item is not None and not type_ok(child.item.type, element):
                    problems.append(f"{path}[{k}]: not {child.item.type}")
                    continue
                check(target, element, f"{path}[{k}]", problems)
        elif isinstance(v, dict):
            check(child, v, path, problems)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        tables = parse_tables(f.read())
    problems = []
    checked = set()
    with open(argv[2], encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            rec = json.loads(line)
            key = (rec["method"], rec["path"])
            if key not in tables:
                continue
            checked.add(key)
            found = []
            check(tables[key], rec["body"], "", found)
            problems += [f"{rec['method']} {rec['path']} (line {n}): {p}" for p in found]
    for p in problems:
        print(p)
    print(f"checked {len(checked)} endpoints against {len(tables)} tables: "
          f"{'ok' if not problems else str(len(problems)) + ' problems'}")
    return 1 if problems or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
