#!/usr/bin/env python3
"""The centre's RabbitMQ users and permissions, as a definitions file that every node
imports at start (deploy/install-centre.sh; docs/operations.md, "The centre under systemd").

    rabbitmq-definitions.py OLD API_PASSWORD_FILE STATION=BRIDGE_PASSWORD_FILE ...

Prints the definitions (JSON) on standard output. OLD is the current definitions file, or
"-" for none. Passwords are read from files only, never from the command line; the output
holds their salted SHA-256 hashes (RabbitMQ's rabbit_password_hashing_sha256). A user's hash
in OLD is kept while it still matches the user's password file, so an unchanged centre gets
the same file byte for byte (the installer is idempotent) and a changed password a new hash.

The users, on the virtual host "/":
* api: every API instance (each with its own client id); every permission.
* bridge-STATION, one per station: its bridge (broker/bridge.conf, client id bridge-STATION)
  may only publish its station's state, change log and replies (and the bridge's own
  $SYS/broker/connection/bridge-STATION/ notices), subscribe to its station's requests, and
  use only its own session's queues (mqtt-subscription-bridge-STATIONqos0/1). At the centre
  the MQTT topic a/b/c is the routing key a.b.c of the exchange amq.topic.
"""
import base64
import hashlib
import json
import os
import re
import sys

ALGORITHM = "rabbit_password_hashing_sha256"


def read_password(path):
    with open(path, encoding="utf-8") as f:
        password = f.readline().rstrip("\r\n")
    if not password:
        sys.exit(f"rabbitmq-definitions: {path} holds no password")
    return password


def matches(password_hash, password):
    try:
        raw = base64.b64decode(password_hash, validate=True)
    except ValueError:
        return False
    salt, digest = raw[:4], raw[4:]
    return len(salt) == 4 and hashlib.sha256(salt + password.encode()).digest() == digest


def new_hash(password):
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    old_path, api_file, stations = argv[1], argv[2], argv[3:]
    old_hashes = {}
    if old_path != "-":
        with open(old_path, encoding="utf-8") as f:
            old_hashes = {u["name"]: u.get("password_hash", "") for u in json.load(f).get("users", [])}

    users, permissions, topic_permissions = [], [], []

    def user(name, password_file):
        password = read_password(password_file)
        kept = old_hashes.get(name, "")
        users.append({"name": name, "hashing_algorithm": ALGORITHM, "tags": [],
                      "password_hash": kept if matches(kept, password) else new_hash(password)})

    user("api", api_file)
    permissions.append({"user": "api", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"})
    for arg in stations:
        station, _, password_file = arg.partition("=")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", station) or not password_file:
            sys.exit(f"rabbitmq-definitions: not STATION=FILE: {arg}")
        name = f"bridge-{station}"
        user(name, password_file)
        queues = rf"mqtt-subscription-{name}qos[01]"
        permissions.append({"user": name, "vhost": "/", "configure": f"^{queues}$",
                            "write": rf"^(amq\.topic|{queues})$", "read": rf"^(amq\.topic|{queues})$"})
        # Station ids are letters, digits, - and _: nothing to escape in a pattern.
        at = rf"evcs\.v1\.stations\.{station}\."
        topic_permissions.append({
            "user": name, "vhost": "/", "exchange": "amq.topic",
            "write": rf"^({at}(station|replies)\..+|\$SYS\.broker\.connection\.{name}\..+)$",
            "read": rf"^{at}scheduler\.requests$"})

    json.dump({"users": users, "vhosts": [{"name": "/"}], "permissions": permissions,
               "topic_permissions": topic_permissions}, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
