#!/usr/bin/env python3
"""A deliberately weak upstream: listen backlog 1, one request at a time.

Usage: weak_upstream.py PORT MAXFILE

Like a tiny app server, it answers each connection's one request after a
short pause (5 ms; /slow/MS pauses MS ms) and closes it. A thread accepts
connections as they come (so a connection the proxy counts as open is
seen here quickly) and writes to MAXFILE the most connections it has ever
held open and not yet answered at once.
"""
import os
import socket
import sys
import threading
import time

port, maxfile = int(sys.argv[1]), sys.argv[2]
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(1)
conns = []
peak = 0
lock = threading.Condition()


def record(force=False):
    global peak
    if len(conns) > peak or force:
        peak = len(conns)
        with open(maxfile + ".tmp", "w") as f:
            f.write("%d\n" % peak)
        os.replace(maxfile + ".tmp", maxfile)


def accept_loop():
    while True:
        s, _ = ls.accept()
        s.settimeout(10)
        with lock:
            conns.append(s)
            record()
            lock.notify()


def serve(s):
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            b = s.recv(65536)
            if not b:
                return
            data += b
    except OSError:
        return
    path = data.split(b" ", 2)[1].decode("latin-1") if b" " in data else "/"
    ms = 5
    if path.startswith("/slow/"):
        ms = int(path[6:])
    time.sleep(ms / 1000.0)
    body = b"ok\n"
    # answered: no longer counted (the proxy may reuse its slot at once)
    with lock:
        conns.remove(s)
    try:
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                  b"Connection: close\r\n\r\n%s" % (len(body), body))
    except OSError:
        pass


record(force=True)
threading.Thread(target=accept_loop, daemon=True).start()
while True:
    with lock:
        while not conns:
            lock.wait()
        s = conns[0]
    serve(s)
    with lock:
        if s in conns:
            conns.remove(s)
    s.close()
