#!/usr/bin/env python3
"""A TCP relay on loopback that a test can cut and heal: a network link between two
brokers (a station's bridge to the centre) that goes down for a while.

    tcp_cut.py TARGET_PORT PORT_FILE

Listens on a free loopback port (written to PORT_FILE) and relays each connection to
127.0.0.1:TARGET_PORT. SIGUSR1 cuts the link: every relayed connection is reset and new
ones are refused until SIGUSR2 heals it. SIGTERM ends it.
"""
import os
import signal
import socket
import sys
import threading

target = int(sys.argv[1])
port_file = sys.argv[2]
lock = threading.Lock()
open_pairs = []
cut = threading.Event()


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def reset(s):
    # RST rather than FIN: the link is gone, not closed politely.
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    except OSError:
        pass


def on_cut(*_):
    cut.set()
    with lock:
        for a, b in open_pairs:
            reset(a)
            reset(b)
        open_pairs.clear()


def on_heal(*_):
    cut.clear()


signal.signal(signal.SIGUSR1, on_cut)
signal.signal(signal.SIGUSR2, on_heal)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(16)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
while True:
    try:
        client, _ = server.accept()
    except InterruptedError:
        continue
    if cut.is_set():
        reset(client)
        continue
    try:
        upstream = socket.create_connection(("127.0.0.1", target))
    except OSError:
        reset(client)
        continue
    with lock:
        open_pairs.append((client, upstream))
    threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
