#!/usr/bin/env python3
"""A load checker for deploys: THREADS keep-alive clients GET
http://127.0.0.1:PORT/ with Host HOST until the file STOP exists, and
count each answer by status and body. Prints one line per distinct
(status, body) and a last line "errors N" (connections that failed or
answers that did not parse). A keep-alive answer is one status line and
one body, so a body that mixes two releases shows as its own line.

    deploy_check.py PORT HOST THREADS STOP
"""
import http.client
import sys
import threading
import time
from collections import Counter

PORT, HOST, THREADS, STOP = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
counts, errors, lock = Counter(), [0], threading.Lock()


def stopped():
    try:
        open(STOP).close()
        return True
    except OSError:
        return False


def run():
    conn = None
    while not stopped():
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
            conn.request("GET", "/", headers={"Host": HOST})
            r = conn.getresponse()
            body = r.read().decode(errors="replace").strip()
            with lock:
                counts[(r.status, body)] += 1
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception as e:
            with lock:
                errors[0] += 1
                counts[("error", type(e).__name__)] += 1
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(0.005)


ts = [threading.Thread(target=run) for _ in range(THREADS)]
for t in ts:
    t.start()
for t in ts:
    t.join()
for (status, body), n in sorted(counts.items(), key=str):
    print("%s %s %d" % (status, body.replace(" ", "_"), n))
print("errors %d" % errors[0])
