#!/usr/bin/env python3
"""Prints a TCP port free on 127.0.0.1 for a server a test starts.

It is taken below the kernel's ephemeral range (net.ipv4.ip_local_port_range), so that no
outgoing connection of another test can be given it between this choice and the server's
bind: a RabbitMQ node binds its ports seconds after they are chosen, and a port from
bind(0) was taken in that time (CI, 2026-12-04). Falls back to bind(0) when the range
leaves no room below it.
"""
import random
import socket


def ephemeral_start():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def bindable(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main():
    top = ephemeral_start()
    if top > 11000:
        for _ in range(500):
            port = random.randrange(10000, top)
            if bindable(port):
                print(port)
                return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


if __name__ == "__main__":
    main()
