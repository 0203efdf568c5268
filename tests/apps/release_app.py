#!/usr/bin/env python3
"""A test app that says which release answered: run from a release's
directory (the process driver's working directory, with
$DEVCLOUD_RELEASE set), it answers every GET with "release N\\n", N its
$DEVCLOUD_RELEASE, as an HTTP/1.1 keep-alive server on $PORT (threads).

The file "mode" in the working directory, if there, makes it a bad
release on purpose:

    exit    it exits at once (never ready)
    500     it listens, and answers every request 500
    slow    it waits 4 s before it listens (a deploy in flight for long)
    crash   it serves for 0.7 s, then exits (dies after the switch)

Used by tests/integration/deploy_*.sh and bench/deploy; not part of
devcloud.
"""
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    with open("mode") as f:
        MODE = f.read().strip()
except OSError:
    MODE = "ok"
if MODE == "exit":
    sys.exit(1)
if MODE == "slow":
    time.sleep(4)
PORT = int(os.environ["PORT"])
BODY = ("release %s\n" % os.environ.get("DEVCLOUD_RELEASE", "-")).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # one segment per answer: the status line and headers apart from the
    # body would wait for the client's delayed ACK (40 ms) under Nagle
    wbufsize = 65536
    disable_nagle_algorithm = True

    def do_GET(self):
        code = 500 if MODE == "500" else 200
        self.send_response(code)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


if MODE == "crash":
    threading.Timer(0.7, lambda: os._exit(3)).start()
Server(("127.0.0.1", PORT), Handler).serve_forever()
