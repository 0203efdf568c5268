#!/usr/bin/env python3
"""Timing helpers for bench/wake.sh (not a test).

  ref PORT CMD...      start CMD and GET http://127.0.0.1:PORT/ until it
                       answers; print the ms from spawn to the answer
  ttfb PORT HOST       one GET through the proxy; print ms to first byte
  crowd PORT HOST N    N concurrent GETs; print "ok errors"
"""
import socket
import subprocess
import sys
import threading
import time


def get(port, host, timeout=60.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
               % host).encode())
    first = s.recv(1)
    t = time.perf_counter()
    rest = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        rest += b
    s.close()
    data = first + rest
    ok = data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.0 200")
    if not ok and host != "127.0.0.1":
        sys.stderr.write("answer: %r\n" % data[:200])
    return t, ok


def ref(port, cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd)
    try:
        while True:
            try:
                t, ok = get(port, "127.0.0.1", 1.0)
                if ok:
                    print("%.3f" % ((t - t0) * 1000))
                    return
            except OSError:
                pass
            time.sleep(0.0002)
    finally:
        p.terminate()
        p.wait()


def ttfb(port, host):
    t0 = time.perf_counter()
    t, ok = get(port, host)
    print("%.3f" % ((t - t0) * 1000) if ok else "error")


def crowd(port, host, n):
    results = []
    lock = threading.Lock()
    go = threading.Event()

    def one():
        go.wait()
        try:
            _, ok = get(port, host)
        except OSError as e:
            sys.stderr.write("crowd: %s\n" % e)
            ok = False
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for th in threads:
        th.start()
    go.set()
    for th in threads:
        th.join()
    print(sum(results), len(results) - sum(results))


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "ref":
        ref(int(sys.argv[2]), sys.argv[3:])
    elif what == "ttfb":
        ttfb(int(sys.argv[2]), sys.argv[3])
    else:
        crowd(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
